package manifest_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/deployerhq/deployer/internal/manifest"
	"github.com/deployerhq/deployer/schemas"
)

// FuzzParse feeds hostile manifests to Parse: it must never panic, and
// whatever it accepts must be a batch the rest of deployer takes as it is.
func FuzzParse(f *testing.F) {
	for _, tt := range valid {
		f.Add([]byte(tt.yaml))
	}
	for _, tt := range invalid {
		if len(tt.yaml) < 4096 {
			f.Add([]byte(tt.yaml))
		}
	}
	f.Add([]byte(mustRead("../cli/example/batch.yaml")))
	sch := compileBatchSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := manifest.Parse(data)
		if err != nil {
			if m != nil {
				t.Fatalf("a manifest with the error %v", err)
			}
			if _, ok := err.(*manifest.Error); !ok { //nolint:errorlint // Parse returns it unwrapped
				t.Fatalf("error %T is not a *manifest.Error", err)
			}
			return
		}
		if n := len(m.Jobs); n < 1 || n > schemas.MaxBatchJobs {
			t.Fatalf("%d jobs", n)
		}
		if m.MaxInFlight < 0 || m.Name == "" {
			t.Fatalf("manifest %+v", m)
		}
		keys := make(map[string]bool, len(m.Jobs))
		for i, j := range m.Jobs {
			if j.Key != "" && keys[j.Key] {
				t.Fatalf("key %q twice", j.Key)
			}
			keys[j.Key] = true
			if !printable(j.Key) || len(j.Key) > schemas.MaxBatchNameBytes {
				t.Fatalf("key %q", j.Key)
			}
			for _, a := range j.Args {
				if strings.Contains(a, "${{") {
					t.Fatalf("arg %q still has ${{", a)
				}
			}
			if j.Container == "" || j.Script == "" || j.Timeout < 0 || j.TaskCPU < 0 || j.TaskMemory < 0 {
				t.Fatalf("job %+v", j)
			}
			// Each job becomes a request that the schemas package's
			// own checks accept.
			req := schemas.JobRequest{
				JobID: "01HZX3K8Q9M2N4P5R6S7T8V9W0", Container: j.Container, Script: j.Script,
				Args: schemas.ArgList(j.Args...), Stream: "s", Attempt: 1, TaskCPU: j.TaskCPU, TaskMemory: j.TaskMemory,
				BatchID: schemas.BatchIDPrefix + "01HZX3K8Q9M2N4P5R6S7T8V9W0",
				Batch: &schemas.BatchSpec{
					Name: m.Name, Size: len(m.Jobs), Index: i + 1, Key: j.Key,
					MaxInFlight: m.MaxInFlight, FailFast: m.FailFast,
				},
			}
			if err := req.Validate(); err != nil {
				t.Fatalf("job %d: %v", i+1, err)
			}
		}
		// What the parser accepts, the published schema accepts.
		if doc, ok := jsonDoc(data); ok {
			if err := sch.Validate(doc); err != nil {
				t.Fatalf("accepted by Parse, refused by the schema: %v", err)
			}
		}
	})
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// jsonDoc converts a YAML manifest for the schema validator; ok is false
// when JSON cannot hold it (such as an .inf argument).
func jsonDoc(data []byte) (any, bool) {
	var v any
	if yaml.Unmarshal(data, &v) != nil {
		return nil, false
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	return doc, err == nil
}
