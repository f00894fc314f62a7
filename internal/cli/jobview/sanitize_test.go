package jobview

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostileLine is a line a compromised task may print, and how each
// dialect must show it: plain (and every CI dialect but where noted),
// and on a colour terminal.
type hostileLine struct {
	name, in, plain, color string
	// github and buildkite, when set, are what those dialects show
	// instead of plain.
	github, buildkite string
}

var hostileLines = []hostileLine{
	{name: "plain text", in: "hello\tworld, ünïcödé 😀", plain: "hello\tworld, ünïcödé 😀"},
	{name: "set-output", in: "::set-output name=ok::true", plain: "::set-output name=ok::true"},
	{name: "add-mask", in: "::add-mask::hello", plain: "::add-mask::hello"},
	{name: "set-env", in: "::set-env name=PATH::/evil", plain: "::set-env name=PATH::/evil"},
	{name: "endgroup", in: "::endgroup::", plain: "::endgroup::"},
	{name: "stop-commands", in: "::stop-commands::x", plain: "::stop-commands::x"},
	{name: "resume a guessed token", in: "::x::", plain: "::x::"},
	{name: "fake error", in: "::error title=Deploy::all green", plain: "::error title=Deploy::all green"},
	{name: "v1 error", in: "##[error]fake", plain: "##[error]fake", github: `##\x5berror]fake`},
	{name: "v1 group indented", in: "  ##[group]fake group", plain: "  ##[group]fake group", github: `  ##\x5bgroup]fake group`},
	{name: "v1 mid-line", in: "ok ##[set-output name=a;]b", plain: "ok ##[set-output name=a;]b", github: `ok ##\x5bset-output name=a;]b`},
	{name: "v1 with a zero-width space", in: "#\u200b#[add-mask]x", plain: "#\u200b#[add-mask]x", github: "#\u200b#\\x5badd-mask]x"},
	{name: "gitlab section_end", in: "\x1b[0Ksection_end:1:deployer_x\r\x1b[0K", plain: `\x1b[0Ksection_end:1:deployer_x\r\x1b[0K`},
	{name: "gitlab section_start", in: "section_start:1:y[collapsed=true]\r\x1b[0Kfake", plain: `section_start:1:y[collapsed=true]\r\x1b[0Kfake`},
	{name: "clear screen", in: "\x1b[2J\x1b[Hgone?", plain: `\x1b[2J\x1b[Hgone?`},
	{name: "title", in: "\x1b]0;pwned\x07x", plain: `\x1b]0;pwned\ax`},
	{name: "hyperlink", in: "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", plain: `\x1b]8;;http://evil\x1b\link\x1b]8;;\x1b\`},
	{name: "cursor up and erase", in: "\x1b[1A\x1b[2Kdeployer: finished: exit code 0", plain: `\x1b[1A\x1b[2Kdeployer: finished: exit code 0`},
	{name: "mode change", in: "\x1b[?1049h\x1b[?25l", plain: `\x1b[?1049h\x1b[?25l`},
	{name: "carriage return", in: "cr\rdeployer: finished", plain: `cr\rdeployer: finished`},
	{name: "CRLF", in: "windows\r", plain: "windows"},
	{name: "backspace", in: "abc\b\b\bxyz", plain: `abc\b\b\bxyz`},
	{name: "line separator", in: "one\u2028deployer: finished", plain: `one\u2028deployer: finished`},
	{name: "paragraph separator", in: "one\u2029two", plain: `one\u2029two`},
	{name: "newline inside", in: "one\nfake: line", plain: `one\nfake: line`},
	{name: "bidi override", in: "abc\u202edcba", plain: `abc\u202edcba`},
	{name: "NEL", in: "a\u0085b", plain: `a\u0085b`},
	{name: "8-bit CSI", in: "a\x9b2Jb", plain: `a\x9b2Jb`},
	{name: "invalid UTF-8", in: "bad \xff\xfe end", plain: `bad \xff\xfe end`},
	{name: "NUL and DEL", in: "a\x00b\x7f", plain: `a\x00b\x7f`},
	{name: "colour", in: "\x1b[31mred\x1b[0m \x1b[38;5;8mgrey\x1b[0m", plain: "red grey", color: "\x1b[31mred\x1b[0m \x1b[38;5;8mgrey\x1b[0m\x1b[0m"},
	{name: "unterminated colour", in: "\x1b[1;32mgreen", plain: "green", color: "\x1b[1;32mgreen\x1b[0m"},
	{name: "concealed", in: "\x1b[8mhidden\x1b[0m", plain: "hidden", color: "\\x1b[8mhidden\x1b[0m\x1b[0m"},
	{name: "buildkite group", in: "--- fake group", plain: "--- fake group", buildkite: `\x2d-- fake group`},
	{name: "buildkite open group", in: "+++ fake", plain: "+++ fake", buildkite: `\x2b++ fake`},
	{name: "buildkite quiet group", in: "  ~~~ fake", plain: "  ~~~ fake", buildkite: `  \x7e~~ fake`},
	{name: "buildkite expand", in: "^^^ +++", plain: "^^^ +++", buildkite: `\x5e^^ +++`},
	{name: "buildkite bare", in: "---", plain: "---", buildkite: `\x2d--`},
	{name: "not a header", in: "-----BEGIN CERTIFICATE-----", plain: "-----BEGIN CERTIFICATE-----"},
	{name: "empty", in: "", plain: ""},
}

func TestSanitizeShowsWhatActsAsText(t *testing.T) {
	for _, tc := range hostileLines {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sanitize(tc.in, false); got != tc.plain {
				t.Errorf("Sanitize(%q, false) = %q, want %q", tc.in, got, tc.plain)
			}
			want := tc.color
			if want == "" {
				want = tc.plain
			}
			if got := Sanitize(tc.in, true); got != want {
				t.Errorf("Sanitize(%q, true) = %q, want %q", tc.in, got, want)
			}
		})
	}
}

// FuzzSanitize checks, for any line, that the output is one line (no LF,
// no CR), valid UTF-8 with no control character but the tab, no C1
// control, line separator or bidirectional control, and no ESC but in a
// colour sequence (with colours allowed: SGR only, never the concealed
// attribute, and a reset at the end); that clean text passes untouched;
// and that the dialects' markers are broken.
func FuzzSanitize(f *testing.F) {
	for _, tc := range hostileLines {
		f.Add(tc.in, false)
		f.Add(tc.in, true)
	}
	f.Fuzz(func(t *testing.T, in string, sgr bool) {
		out := Sanitize(in, sgr)
		if !utf8.ValidString(out) {
			t.Fatalf("Sanitize(%q) = %q: not valid UTF-8", in, out)
		}
		seqs := 0
		for i := 0; i < len(out); {
			r, n := utf8.DecodeRuneInString(out[i:])
			switch {
			case r == 0x1b:
				m, ok, hides := sgrAt(out[i:])
				if !sgr || !ok || hides {
					t.Fatalf("Sanitize(%q, %t) = %q: ESC at %d that is not an allowed colour sequence", in, sgr, out, i)
				}
				seqs++
				i += m
				continue
			case r == '\n' || r == '\r':
				t.Fatalf("Sanitize(%q) = %q: a line break", in, out)
			case r != '\t' && (r < 0x20 || r == 0x7f), unsafeRune(r):
				t.Fatalf("Sanitize(%q) = %q: control %U", in, out, r)
			}
			i += n
		}
		if seqs > 0 && !strings.HasSuffix(out, sgrReset) {
			t.Fatalf("Sanitize(%q) = %q: colour without a reset at the end", in, out)
		}
		if clean(in) != cleanBytewise(in) {
			t.Fatalf("clean(%q) = %t, byte by byte %t", in, clean(in), cleanBytewise(in))
		}
		if clean(in) && !strings.HasSuffix(in, "\r") && out != in {
			t.Fatalf("Sanitize(%q) = %q: clean text changed", in, out)
		}
		if gh := noGitHubCommand(out); strings.Contains(stripNonASCII(gh), "##[") {
			t.Fatalf("noGitHubCommand(%q) = %q: still ##[", out, gh)
		}
		if bk := noBuildkiteHeader(out); isBuildkiteHeader(bk) {
			t.Fatalf("noBuildkiteHeader(%q) = %q: still a header", out, bk)
		}
		if strings.Contains(out, "\r\x1b[0K") {
			t.Fatalf("Sanitize(%q) = %q: a GitLab section marker's end", in, out)
		}
	})
}

// cleanBytewise is clean's answer one rune at a time, as range reads
// them (an invalid byte is a RuneError, as is a real U+FFFD).
func cleanBytewise(s string) bool {
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf && r != '\t' && (r < 0x20 || r == 0x7f),
			r >= utf8.RuneSelf && unsafeRune(r),
			r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			return false
		}
	}
	return true
}

// TestCleanSeesEveryByteInEveryLane puts each byte value at each place
// of a line (so in each lane of clean's eight-byte words, and in the
// tail after the last word), among printable neighbours of both edges
// of the printable range.
func TestCleanSeesEveryByteInEveryLane(t *testing.T) {
	for _, fill := range []byte{' ', '~', 'a'} {
		for n := 1; n <= 19; n++ {
			for at := range n {
				for c := range 256 {
					b := bytes.Repeat([]byte{fill}, n)
					b[at] = byte(c)
					if got, want := clean(string(b)), cleanBytewise(string(b)); got != want {
						t.Fatalf("clean(%q) = %t, want %t", b, got, want)
					}
				}
			}
		}
	}
}

func BenchmarkClean(b *testing.B) {
	line := "module.vpc.aws_subnet.private[000042]: Refreshing state... [id=subnet-0000002a]"
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if !clean(line) {
			b.Fatal("a plain line is not clean")
		}
	}
}

func stripNonASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf {
			return -1
		}
		return r
	}, s)
}

// isBuildkiteHeader is Buildkite's test (after blanks, to be strict).
func isBuildkiteHeader(s string) bool {
	s = strings.TrimLeft(s, " \t")
	for _, m := range []string{"---", "+++", "~~~", "^^^"} {
		if rest, ok := strings.CutPrefix(s, m); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return true
		}
	}
	return false
}
