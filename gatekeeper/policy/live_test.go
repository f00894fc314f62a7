package policy

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

func TestDigestStableAcrossFormatting(t *testing.T) {
	yamlDoc := `
# a comment
containers:
  c:
    image: x
    script_config:
      s:
        allowed_options: [--a, --b]
`
	// The same configuration as JSON, keys in another order.
	jsonDoc := `{"containers": {"c": {"script_config": {"s": {"allowed_options": ["--a", "--b"]}}, "image": "x"}}}`
	changed := strings.Replace(yamlDoc, "[--a, --b]", "[--a]", 1)

	digest := func(doc string) string {
		t.Helper()
		p, err := Parse([]byte(doc), "/base")
		if err != nil {
			t.Fatal(err)
		}
		return p.Digest()
	}
	a, b, c := digest(yamlDoc), digest(jsonDoc), digest(changed)
	if a != b {
		t.Errorf("formatting changed the digest: %s (YAML) != %s (JSON)", a, b)
	}
	if a == c {
		t.Errorf("a semantic change kept the digest %s", a)
	}
	if !strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+12 {
		t.Errorf("digest %q: want sha256: and 12 hex digits", a)
	}
	if again := digest(yamlDoc); again != a {
		t.Errorf("digest not stable: %s then %s", a, again)
	}
}

func TestSourceNamesTheBytesParsed(t *testing.T) {
	doc := "containers:\n  c:\n    image: x\n    script_config:\n      s: {}\n"
	p, err := Parse([]byte(doc), "/base")
	if err != nil {
		t.Fatal(err)
	}
	if p.Source() != SourceDigest([]byte(doc)) || !strings.HasPrefix(p.Source(), "sha256:") {
		t.Errorf("Source %q, want SourceDigest of the bytes parsed", p.Source())
	}
	// The same policy from other bytes (a comment) has another source.
	q, err := Parse([]byte("# comment\n"+doc), "/base")
	if err != nil {
		t.Fatal(err)
	}
	if q.Digest() != p.Digest() || q.Source() == p.Source() {
		t.Errorf("digests %s, %s and sources %s, %s: want the same digest, other sources", p.Digest(), q.Digest(), p.Source(), q.Source())
	}
}

func TestLiveSwapsAtomically(t *testing.T) {
	parse := func(script string) *Policy {
		t.Helper()
		p, err := Parse([]byte("containers:\n  c:\n    image: x\n    script_config:\n      "+script+": {}\n"), "/base")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldP, newP := parse("s"), parse("t")
	live := NewLive(oldP)
	caller := schemas.Identity{Principal: "user:a"}
	req := func(script string) schemas.JobRequest {
		return schemas.JobRequest{Schema: schemas.JobRequestV1, JobID: "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E", Container: "c", Script: script,
			Stream: "s", Attempt: 1, SubmittedAt: time.Now()}
	}
	if _, err := live.Resolve(req("s"), caller, time.Now()); err != nil {
		t.Fatalf("old policy refuses its script: %v", err)
	}

	// Readers racing a swap see one policy or the other, never a mix:
	// each snapshot allows exactly one of the two scripts.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := live.Current()
				_, errS := p.Resolve(req("s"), caller, time.Now())
				_, errT := p.Resolve(req("t"), caller, time.Now())
				if (errS == nil) == (errT == nil) {
					t.Errorf("a snapshot allows s: %v, t: %v", errS == nil, errT == nil)
					return
				}
			}
		})
	}
	if got := live.Store(newP); got != oldP {
		t.Errorf("Store returned %p, want the old policy %p", got, oldP)
	}
	close(stop)
	wg.Wait()

	if live.Digest() != newP.Digest() || live.Current() != newP {
		t.Errorf("after Store the live policy is not the new one")
	}
	if _, err := live.Resolve(req("s"), caller, time.Now()); err == nil {
		t.Errorf("the new policy still allows the removed script")
	}
	if _, err := live.Resolve(req("t"), caller, time.Now()); err != nil {
		t.Errorf("the new policy refuses its script: %v", err)
	}
	if live.Store(nil) != newP || live.Current() != newP {
		t.Errorf("Store(nil) replaced the policy in force")
	}
	if len(live.Describe(caller)) != 1 || len(live.Config().Containers) != 1 {
		t.Errorf("Describe/Config do not delegate to the policy in force")
	}
}
