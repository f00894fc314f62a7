package schemas_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/deployerhq/deployer/schemas"
)

func configSchemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(schemas.ConfigSchema, &doc); err != nil {
		t.Fatalf("config.schema.json is not JSON: %v", err)
	}
	return doc
}

func compileConfigSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.ConfigSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatalf("config.schema.json does not compile: %v", err)
	}
	return sch
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func TestConfigSchemaMatchesTypes(t *testing.T) {
	doc := configSchemaDoc(t)
	defs := doc["$defs"].(map[string]any)
	for _, tt := range []struct {
		typ    reflect.Type
		schema map[string]any
	}{
		{reflect.TypeFor[schemas.Config](), doc},
		{reflect.TypeFor[schemas.Lane](), defs["lane"].(map[string]any)},
		{reflect.TypeFor[schemas.Container](), defs["container"].(map[string]any)},
		{reflect.TypeFor[schemas.LocalRunner](), defs["local"].(map[string]any)},
		{reflect.TypeFor[schemas.ScriptConfig](), defs["script"].(map[string]any)},
		{reflect.TypeFor[schemas.RetryPolicy](), defs["retry"].(map[string]any)},
	} {
		var props []string
		for k := range tt.schema["properties"].(map[string]any) {
			if k != "$schema" {
				props = append(props, k)
			}
		}
		sort.Strings(props)
		if want := jsonFields(tt.typ); !reflect.DeepEqual(props, want) {
			t.Errorf("%s: schema properties %v, Go fields %v", tt.typ.Name(), props, want)
		}
	}
}

// Every object is closed and every property documented with its default
// (or said to be required), for the generated reference.
func TestConfigSchemaDocumented(t *testing.T) {
	var walk func(path string, s map[string]any)
	walk = func(path string, s map[string]any) {
		if props, ok := s["properties"].(map[string]any); ok {
			if s["additionalProperties"] != false {
				t.Errorf("%s: additionalProperties must be false", path)
			}
			for name, p := range props {
				ps := p.(map[string]any)
				d, _ := ps["description"].(string)
				if !strings.Contains(d, "Default") && !strings.Contains(d, "Required") {
					t.Errorf("%s.%s: description must state the default or that it is required: %q", path, name, d)
				}
				walk(path+"."+name, ps)
			}
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok {
			walk(path+".*", ap)
		}
	}
	doc := configSchemaDoc(t)
	walk("", doc)
	for name, d := range doc["$defs"].(map[string]any) {
		walk("$defs."+name, d.(map[string]any))
	}
}

func TestConfigSchemaValidates(t *testing.T) {
	sch := compileConfigSchema(t)
	valid := `{"lanes": {"amis": {"concurrency": 3}}, "containers": {"packer": {"image": "x:1", "lane": "amis",
		"timeout": "2h", "allowed_callers": ["arn:aws:iam::123456789012:role/ci-*"],
		"script_config": {"build": {"allowed_options": null, "restricted_options": ["--force"],
		"restricted_options_regex": {"--only": "amazon-ebs\\..*"}, "hardcoded_options": {"--color": []}}}}}}`
	for _, tt := range []struct {
		doc string
		ok  bool
	}{
		{valid, true},
		{`{"containers": {}}`, false},
		{`{"containers": {"c": {"script_config": {"s": {"unknown": 1}}}}}`, false},
		{`{"containers": {"c": {"timeout": "5 minutes", "script_config": {"s": {}}}}}`, false},
		{`{"containers": {"c": {"script_config": {"s": {"allowed_options": ["destroy"]}}}}}`, false},
		{`{"containers": {"c/d": {"script_config": {"s": {}}}}}`, false},
	} {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); (err == nil) != tt.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tt.doc, err, tt.ok)
		}
	}
	var cfg schemas.Config
	if err := json.Unmarshal([]byte(valid), &cfg); err != nil {
		t.Fatalf("valid document does not decode into Config: %v", err)
	}
	if cfg.Containers["packer"].ScriptConfig["build"].AllowedOptions != nil || cfg.Containers["packer"].Timeout.D() != 2*time.Hour {
		t.Errorf("decoded %+v", cfg)
	}
}

func TestFilesEmbedsConfigSchema(t *testing.T) {
	b, err := schemas.Files.ReadFile("config.schema.json")
	if err != nil || !bytes.Equal(b, schemas.ConfigSchema) {
		t.Errorf("Files does not hold config.schema.json: %v", err)
	}
}

const jobID = "01HZX3K8Q9M2N4P5R6S7T8V9W0"

var when = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func sampleRequest() schemas.JobRequest {
	return schemas.JobRequest{
		JobID: jobID, Container: "terraform-planner", Script: "plan",
		Args: schemas.ArgList("--path", "live/prod", "--ref=main"), TaskCPU: 2048, TaskMemory: 4096,
		LaunchType: "FARGATE", Timeout: schemas.Duration(90 * time.Minute), Stream: "sqs:https://q/jobs-" + jobID,
		Caller:  schemas.CallerMetadata{CIProvider: "github", Repo: "acme/live", Ref: "refs/heads/main", SHA: strings.Repeat("a", 40), RunURL: "https://ci/run/1", User: "alice"},
		BatchID: "batch-01HZX3K8Q9M2N4P5R6S7T8V9W1", Batch: &schemas.BatchSpec{Name: "nightly-amis", Size: 4, Index: 2, Key: "os=al2023", MaxInFlight: 2, FailFast: true},
		Attempt: 1, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", SubmittedAt: when,
	}
}

func TestRoundTrip(t *testing.T) {
	req := sampleRequest()
	legacy := sampleRequest()
	legacy.Args = schemas.Args{Legacy: `--path "live/prod"`, IsLegacy: true}
	exit := 3
	lines := int64(2)
	order := schemas.RunOrder{
		JobID: jobID, Attempt: 1, Request: req, Container: "terraform-planner", Script: "plan",
		Argv: []string{"--repo", "x", "--path", "live/prod"}, Image: "img:1", ScriptsDir: "/srv/scripts",
		Environment: map[string]string{"A": "1"}, Secrets: map[string]string{"T": "env:T"},
		TaskCPU: 2048, TaskMemory: 4096, LaunchType: "FARGATE", Timeout: schemas.Duration(time.Hour),
		Retry: schemas.RetryPolicy{MaxAttempts: 2, OnExitCodes: []int{75}}, Lane: "default", LaneLimit: 10,
		Caller: schemas.Identity{Principal: "user:alice", Source: "os_user"}, Stream: req.Stream, AcceptedAt: when,
	}
	event := schemas.JobEvent{
		JobID: jobID, ID: "e1", Time: when, Type: schemas.EventFinished, Source: "worker", Attempt: 1,
		Lines:   []schemas.LogLine{{Seq: 1, ID: "c1", Time: when, Text: "hello"}},
		Outcome: schemas.OutcomeFailed, ExitCode: &exit, Reason: "exit 3", ReasonCode: "task_failed", LogEvents: &lines,
		Duration: schemas.Duration(time.Minute),
	}
	dead := schemas.DeadLetter{JobID: jobID, Request: &req, Order: &order,
		Failure: schemas.Failure{Outcome: schemas.OutcomeFailed, Reason: "exit 3", ReasonCode: "task_failed", ExitCode: &exit, Attempts: 1, Time: when}}

	for _, r := range []schemas.JobRequest{req, legacy} {
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := schemas.DecodeJobRequest(b)
		r.Schema = schemas.JobRequestV1
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("job request round trip:\n got %+v, %v\nwant %+v", got, err, r)
		}
	}
	b, _ := order.Encode()
	gotOrder, err := schemas.DecodeRunOrder(b)
	order.Schema, order.Request.Schema = schemas.RunOrderV1, schemas.JobRequestV1
	if err != nil || !reflect.DeepEqual(gotOrder, order) {
		t.Errorf("run order round trip:\n got %+v, %v\nwant %+v", gotOrder, err, order)
	}
	b, _ = event.Encode()
	gotEvent, err := schemas.DecodeJobEvent(b)
	event.Schema = schemas.JobEventV1
	if err != nil || !reflect.DeepEqual(gotEvent, event) {
		t.Errorf("job event round trip:\n got %+v, %v\nwant %+v", gotEvent, err, event)
	}
	b, _ = dead.Encode()
	gotDead, err := schemas.DecodeDeadLetter(b)
	dead.Schema = schemas.DeadLetterV1
	if err != nil || gotDead.Failure.ReasonCode != "task_failed" || gotDead.Order.Argv[0] != "--repo" || gotDead.Request.JobID != jobID {
		t.Errorf("dead letter round trip: %+v, %v", gotDead, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := sampleRequest().Encode()
	replace := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	decoders := map[string]func([]byte) error{
		"job_request":      func(b []byte) error { _, err := schemas.DecodeJobRequest(b); return err },
		"run_order":        func(b []byte) error { _, err := schemas.DecodeRunOrder(b); return err },
		"job_event":        func(b []byte) error { _, err := schemas.DecodeJobEvent(b); return err },
		"dead_letter":      func(b []byte) error { _, err := schemas.DecodeDeadLetter(b); return err },
		"cancel_request":   func(b []byte) error { _, err := schemas.DecodeCancelRequest(b); return err },
		"cancel_order":     func(b []byte) error { _, err := schemas.DecodeCancelOrder(b); return err },
		"describe_request": func(b []byte) error { _, err := schemas.DecodeDescribeRequest(b); return err },
	}
	for name, decode := range decoders {
		for _, tt := range []struct {
			what string
			data []byte
			want error
		}{
			{"next major version", []byte(`{"schema": "` + name + `/v2"}`), schemas.ErrUnsupportedSchema},
			{"another message", []byte(`{"schema": "something_else/v1"}`), schemas.ErrUnsupportedSchema},
			{"version zero", []byte(`{"schema": "` + name + `/v0"}`), schemas.ErrMalformed},
			{"no version", []byte(`{"schema": "` + name + `"}`), schemas.ErrMalformed},
			{"no schema", []byte(`{"job_id": "x"}`), schemas.ErrMalformed},
			{"not JSON", []byte(`{"schema": `), schemas.ErrMalformed},
			{"not an object", []byte(`[1, 2]`), schemas.ErrMalformed},
			{"empty", nil, schemas.ErrMalformed},
			{"trailing data", []byte(`{"schema": "` + name + `/v1"} {}`), schemas.ErrMalformed},
			{"too large", append([]byte(`{"schema": "`+name+`/v1", "x": "`), bytes.Repeat([]byte("a"), schemas.MaxMessageSize)...), schemas.ErrTooLarge},
		} {
			if err := decode(tt.data); !errors.Is(err, tt.want) {
				t.Errorf("%s, %s: error %v, want %v", name, tt.what, err, tt.want)
			}
		}
	}
	for _, tt := range []struct {
		what string
		data []byte
	}{
		{"args of numbers", replace(`"args":["--path","live/prod","--ref=main"]`, `"args":[1,2]`)},
		{"args object", replace(`"args":["--path","live/prod","--ref=main"]`, `"args":{"a":1}`)},
		{"bad job id", replace(jobID, "../../etc")},
		{"attempt zero", replace(`"attempt":1`, `"attempt":0`)},
		{"negative cpu", replace(`"task_cpu":2048`, `"task_cpu":-1`)},
		{"bad duration", replace(`"timeout":"1h30m0s"`, `"timeout":"forever"`)},
		{"negative duration", replace(`"timeout":"1h30m0s"`, `"timeout":"-1h"`)},
	} {
		if !bytes.Contains(good, []byte("args")) || bytes.Equal(tt.data, good) {
			t.Fatalf("%s: the replacement did not apply to %s", tt.what, good)
		}
		if _, err := schemas.DecodeJobRequest(tt.data); !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", tt.what, err)
		}
	}
	// Unknown fields of the same major version are ignored.
	if _, err := schemas.DecodeJobRequest(replace(`"job_id"`, `"new_field":{"x":[1]},"job_id"`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	// Null args mean no args; a legacy string stays legacy.
	r, err := schemas.DecodeJobRequest(replace(`"args":["--path","live/prod","--ref=main"]`, `"args":null`))
	if err != nil || len(r.Args.Words) != 0 || r.Args.IsLegacy {
		t.Errorf("null args: %+v, %v", r.Args, err)
	}
	r, err = schemas.DecodeJobRequest(replace(`"args":["--path","live/prod","--ref=main"]`, `"args":""`))
	if err != nil || !r.Args.IsLegacy || r.Args.Legacy != "" {
		t.Errorf("empty legacy args: %+v, %v", r.Args, err)
	}
}

func FuzzDecodeJobRequest(f *testing.F) {
	good, _ := sampleRequest().Encode()
	f.Add(good)
	canary, _ := canaryRequest().Encode()
	f.Add(canary)
	f.Add([]byte(`{"schema":"job_request/v1","job_id":"` + jobID + `","container":"c","canary":true,"script":"s","args":"","stream":"s","attempt":1}`))
	f.Add([]byte(`{"schema":"job_request/v1","job_id":"` + jobID + `","container":"c","script":"s","args":"--a 'b c'","stream":"s","attempt":1}`))
	f.Add([]byte(`{"schema":"job_request/v2"}`))
	f.Add([]byte(`{"schema":"job_request/v1","args":[null]}`))
	f.Add([]byte(`{"schema":"job_request/v1","timeout":"1e400h"}`))
	f.Add([]byte(`{"schema":"job_request/v01"}`))
	f.Add([]byte(`{"schema":"job_request/v1","schema":"job_request/v2"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := schemas.DecodeJobRequest(data)
		if err != nil {
			if !errors.Is(err, schemas.ErrMalformed) && !errors.Is(err, schemas.ErrUnsupportedSchema) && !errors.Is(err, schemas.ErrTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded request does not validate: %v", err)
		}
		b1, err := r.Encode()
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		r2, err := schemas.DecodeJobRequest(b1)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b1, err)
		}
		b2, _ := r2.Encode()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip changed the request:\n%s\n%s", b1, b2)
		}
	})
}

func TestBatchRequestShape(t *testing.T) {
	good := func() schemas.JobRequest {
		return schemas.JobRequest{
			JobID: "01HZX3K8Q9M2N4P5R6S7T8V9W0", Container: "c", Script: "s", Stream: "x", Attempt: 1,
			BatchID: "batch-01HZX3K8Q9M2N4P5R6S7T8V9W1",
			Batch:   &schemas.BatchSpec{Name: "nightly", Size: 3, Index: 3},
		}
	}
	if r := good(); r.Validate() != nil {
		t.Fatalf("a good batch request is refused: %v", r.Validate())
	}
	for name, change := range map[string]func(*schemas.JobRequest){
		"job id as batch id": func(r *schemas.JobRequest) { r.BatchID = "01HZX3K8Q9M2N4P5R6S7T8V9W1" },
		"batch without id":   func(r *schemas.JobRequest) { r.BatchID = "" },
		"id without batch":   func(r *schemas.JobRequest) { r.Batch = nil },
		"index over size":    func(r *schemas.JobRequest) { r.Batch.Index = 4 },
		"index zero":         func(r *schemas.JobRequest) { r.Batch.Index = 0 },
		"too many jobs":      func(r *schemas.JobRequest) { r.Batch.Size, r.Batch.Index = schemas.MaxBatchJobs+1, 1 },
		"negative in flight": func(r *schemas.JobRequest) { r.Batch.MaxInFlight = -1 },
		"escape in name":     func(r *schemas.JobRequest) { r.Batch.Name = "a\x1b[2Jb" },
		"newline in key":     func(r *schemas.JobRequest) { r.Batch.Key = "os=a\nb" },
		"name too long":      func(r *schemas.JobRequest) { r.Batch.Name = strings.Repeat("n", schemas.MaxBatchNameBytes+1) },
		"invalid utf-8 name": func(r *schemas.JobRequest) { r.Batch.Name = "\xff" },
	} {
		r := good()
		change(&r)
		if err := r.Validate(); !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("%s: Validate = %v, want ErrMalformed", name, err)
		}
	}
}
