package policy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

// corpusCase is one line of a hostile request corpus (JSON Lines, *.jsonl).
// Either Request holds a whole job request body exactly as a caller would
// send it (decoded as the gatekeeper decodes it), or Container, Script and
// Args describe one: Args is a list of words or one legacy string.
// Caller is the verified principal (default: $DEPLOYER_HOSTILE_CALLER, else
// a CI role testdata/policy.yaml allows); Ref the caller's git ref (default main).
// Expect, when set, is "accept" or the rejection's reason code.
type corpusCase struct {
	Request   json.RawMessage `json:"request"`
	Container string          `json:"container"`
	Script    string          `json:"script"`
	Args      json.RawMessage `json:"args"`
	Caller    string          `json:"caller"`
	Ref       *string         `json:"ref"`
	Expect    string          `json:"expect"`
}

// TestHostileCorpus runs request corpora through the gatekeeper's decoding
// and policy, checking every outcome with the fuzz targets' specification
// checker: a rejection is a known reason code with a one-line message; an
// accepted argv holds the hardcoded options first and exactly, only
// allowed options, nothing restricted in any spelling, and the caller's
// words unchanged. testdata/hostile/*.jsonl runs against
// testdata/policy.yaml; someone else's corpus runs with
//
//	DEPLOYER_HOSTILE_CORPUS=DIR_OR_FILE[:...] [DEPLOYER_HOSTILE_POLICY=deployer.yaml] \
//	  [DEPLOYER_HOSTILE_CALLER=arn:...] go test -run TestHostileCorpus -v ./gatekeeper/policy/
//
// and the test logs how many requests were accepted and rejected, by code
// (each line's outcome too with DEPLOYER_HOSTILE_VERBOSE=1).
func TestHostileCorpus(t *testing.T) {
	// The built-in corpus is written for testdata/policy.yaml; another
	// policy gets only the corpus given with it.
	p := testPolicy(t)
	files, err := filepath.Glob("testdata/hostile/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no built-in corpus in testdata/hostile (%v)", err)
	}
	if path := os.Getenv("DEPLOYER_HOSTILE_POLICY"); path != "" {
		if p, err = Load(path); err != nil {
			t.Fatalf("DEPLOYER_HOSTILE_POLICY (absolute, or relative to gatekeeper/policy): %v", err)
		}
		files = nil
	}
	if extra := os.Getenv("DEPLOYER_HOSTILE_CORPUS"); extra != "" {
		for _, root := range filepath.SplitList(extra) {
			err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(path, ".jsonl") {
					files = append(files, path)
				}
				return err
			})
			if err != nil {
				t.Fatalf("DEPLOYER_HOSTILE_CORPUS (absolute, or relative to gatekeeper/policy): %v", err)
			}
		}
	}
	outcomes := map[string]int{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(bytes.NewReader(data))
		s.Buffer(nil, 4<<20)
		for n := 1; s.Scan(); n++ {
			line := bytes.TrimSpace(s.Bytes())
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			where := fmt.Sprintf("%s:%d", file, n)
			outcome, problem := runCorpusCase(p, line)
			outcomes[outcome]++
			if problem != "" {
				t.Errorf("%s: %s\n  %s", where, problem, line)
			} else if os.Getenv("DEPLOYER_HOSTILE_VERBOSE") != "" {
				t.Logf("%s: %s", where, outcome)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	keys := make([]string, 0, len(outcomes))
	total := 0
	for k, v := range outcomes {
		keys = append(keys, fmt.Sprintf("%s=%d", k, v))
		total += v
	}
	sort.Strings(keys)
	t.Logf("%d requests from %d files: %s", total, len(files), strings.Join(keys, " "))
}

// runCorpusCase returns the outcome of one corpus line ("accept", a
// reason code, or what the decoder said) and what is wrong with it, if
// anything.
func runCorpusCase(p *Policy, line []byte) (outcome, problem string) {
	var c corpusCase
	if err := json.Unmarshal(line, &c); err != nil {
		return "corpus_error", "not a corpus line: " + err.Error()
	}
	var req schemas.JobRequest
	if c.Request != nil {
		var err error
		if req, err = schemas.DecodeJobRequest(c.Request); err != nil {
			if !errors.Is(err, schemas.ErrMalformed) && !errors.Is(err, schemas.ErrUnsupportedSchema) && !errors.Is(err, schemas.ErrTooLarge) {
				return "undecodable", fmt.Sprintf("decoding error %v wraps no sentinel", err)
			}
			return "undecodable", expectation(c.Expect, "undecodable")
		}
	} else {
		req = request(c.Container, c.Script)
		var words []string
		var legacyArgs string
		switch {
		case len(c.Args) == 0 || string(c.Args) == "null":
		case json.Unmarshal(c.Args, &words) == nil:
			req.Args = schemas.ArgList(words...)
		case json.Unmarshal(c.Args, &legacyArgs) == nil:
			req.Args = schemas.Args{Legacy: legacyArgs, IsLegacy: true}
		default:
			return "corpus_error", "args is neither a list of strings nor a string"
		}
		if c.Ref != nil {
			req.Caller.Ref = *c.Ref
		}
	}
	caller := ciRole
	if who := os.Getenv("DEPLOYER_HOSTILE_CALLER"); who != "" {
		caller = schemas.Identity{Principal: who, Source: "sqs_sender_id"}
	}
	if c.Caller != "" {
		caller = schemas.Identity{Principal: c.Caller, Source: "sqs_sender_id"}
	}
	o, err := p.Resolve(req, caller, testNow)
	if err != nil {
		var rej *Rejection
		if !errors.As(err, &rej) || !slices.Contains(Codes, rej.Code) {
			return "error", fmt.Sprintf("error %v is not a known rejection", err)
		}
		if rej.Message == "" || strings.ContainsAny(rej.Message, "\n\r\x00") || !utf8.ValidString(rej.Message) {
			return rej.Code, fmt.Sprintf("rejection message is not one clean line: %q", rej.Message)
		}
		return rej.Code, expectation(c.Expect, rej.Code)
	}
	if err := o.Validate(); err != nil {
		return "accept", "accepted order does not validate: " + err.Error()
	}
	sc := p.Config().Containers[o.Container].ScriptConfig[o.Script]
	var words []string
	if !req.Args.IsLegacy {
		words = req.Args.Words
	}
	if msg := checkAcceptedArgv(sc, words, o.Argv); msg != "" {
		return "accept", fmt.Sprintf("accepted as argv %q: %s", o.Argv, msg)
	}
	return "accept", expectation(c.Expect, "accept")
}

func expectation(want, got string) string {
	if want == "" || want == got {
		return ""
	}
	return fmt.Sprintf("outcome %s, the corpus expects %s", got, want)
}

// A corpus line the runner cannot read is reported as such, never taken
// for a request the gatekeeper refused; an unmet expectation is reported.
func TestCorpusRunnerReportsBadLines(t *testing.T) {
	p := testPolicy(t)
	for _, tt := range []struct{ line, outcome, problem string }{
		{`{"container": `, "corpus_error", "not a corpus line"},
		{`{"container": "packer", "script": "build-ami", "args": 42}`, "corpus_error", "neither a list of strings nor a string"},
		{`{"container": "packer", "script": "build-ami", "args": ["--force"], "expect": "accept"}`, "option_restricted", "the corpus expects accept"},
		{`{"request": "not an object", "expect": "accept"}`, "undecodable", "the corpus expects accept"},
	} {
		outcome, problem := runCorpusCase(p, []byte(tt.line))
		if outcome != tt.outcome || !strings.Contains(problem, tt.problem) {
			t.Errorf("%s: outcome %q, problem %q; want %q and a problem saying %q", tt.line, outcome, problem, tt.outcome, tt.problem)
		}
	}
}
