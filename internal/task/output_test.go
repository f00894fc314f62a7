package task_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

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
			if err := task.ReadLines(strings.NewReader(tc.in), func(s string, _ time.Time) { got = append(got, s) }, func() {}); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %d lines %.40q, want %d lines %.40q", len(got), got, len(tc.want), tc.want)
			}
		})
	}
}

// reads returns one chunk per Read, noting the time just before each.
type reads struct {
	chunks []string
	before []time.Time
}

func (r *reads) Read(b []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	r.before = append(r.before, time.Now())
	n := copy(b, r.chunks[0])
	r.chunks = r.chunks[1:]
	return n, nil
}

// TestReadLinesStampsEachLineWithItsRead: the lines of one read share the
// time of that read; a line completed by a later read has that read's.
func TestReadLinesStampsEachLineWithItsRead(t *testing.T) {
	t.Parallel()
	r := &reads{chunks: []string{"a\nb\nc", "d\n", "e\n"}}
	var at []time.Time
	if err := task.ReadLines(r, func(_ string, t time.Time) { at = append(at, t) }, func() {}); err != nil {
		t.Fatal(err)
	}
	if len(at) != 4 || len(r.before) != 3 {
		t.Fatalf("%d lines from %d reads, want 4 from 3", len(at), len(r.before))
	}
	if !at[0].Equal(at[1]) || at[0].Before(r.before[0]) || at[0].After(r.before[1]) {
		t.Errorf("the first read's lines at %v, %v; want the same time, between the reads at %v and %v", at[0], at[1], r.before[0], r.before[1])
	}
	if at[2].Before(r.before[1]) || at[2].After(r.before[2]) {
		t.Errorf("a line ended by the second read at %v, want between the reads at %v and %v", at[2], r.before[1], r.before[2])
	}
	if at[3].Before(r.before[2]) || at[3].Location() != time.UTC {
		t.Errorf("the last line at %v, want in UTC, after its read at %v", at[3], r.before[2])
	}
}

// TestArenaStringsKeepTheirBytes: strings an arena makes from one reused
// buffer, across many blocks and with long and empty ones among them,
// each keep the bytes they were made of.
func TestArenaStringsKeepTheirBytes(t *testing.T) {
	t.Parallel()
	str := task.ArenaStrings()
	src := make([]byte, 0, 64<<10)
	var got, want []string
	for i := range 5000 {
		n := i % 97
		if i%1000 == 999 {
			n = 20 << 10 // longer than an arena shares
		}
		src = src[:0]
		for j := range n {
			src = append(src, byte('a'+(i+j)%26))
		}
		got = append(got, str(src))
		want = append(want, string(src))
		clear(src[:cap(src)]) // the source is reused: the string must not be
	}
	if !slices.Equal(got, want) {
		t.Fatal("a string changed after its source did")
	}
}
