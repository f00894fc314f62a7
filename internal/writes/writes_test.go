package writes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/deployerhq/deployer/internal/writes"
)

type key struct{}

// With no Together (AWS), Do runs fn on the caller's context and returns
// its error; with one, fn runs under it.
func TestDo(t *testing.T) {
	boom := errors.New("boom")
	ctx := context.WithValue(t.Context(), key{}, "caller's")
	var none writes.Together
	if err := none.Do(ctx, func(got context.Context) error {
		if got != ctx {
			t.Error("with no Together, fn did not get the caller's context")
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want fn's error", err)
	}

	var under bool
	together := writes.Together(func(ctx context.Context, fn func(context.Context) error) error {
		under = true
		return fn(ctx)
	})
	ran := false
	if err := together.Do(ctx, func(context.Context) error { ran = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if !under || !ran {
		t.Fatalf("with a Together: run under it %v, fn ran %v; want both", under, ran)
	}
}
