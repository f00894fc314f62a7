package task_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/schemas"
)

func TestReadLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", schemas.MaxLineBytes)
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", nil},
		{"one", "a\n", []string{"a"}},
		{"no final newline", "a\nb", []string{"a", "b"}},
		{"empty lines", "\n\na\n\n", []string{"", "", "a", ""}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"carriage returns kept", "50%\r100%\rdone\n\r\n", []string{"50%\r100%\rdone", ""}},
		{"lone cr kept", "a\r", []string{"a\r"}},
		{"exactly max", long + "\n", []string{long}},
		{"exactly max crlf", long + "\r\n", []string{long}},
		{"split", long + "yz\n", []string{long, "yz"}},
		{"split twice", long + long + "z", []string{long, long, "z"}},
		{"invalid utf8 kept", "\xff\xfe\n", []string{"\xff\xfe"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			if err := task.ReadLines(strings.NewReader(tc.in), func(s string) { got = append(got, s) }, func() {}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d lines %.40q, want %d lines %.40q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}
