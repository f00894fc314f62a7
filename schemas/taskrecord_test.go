package schemas_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deployerhq/deployer/schemas"
)

func TestSplitTextFitsTheRecordLimit(t *testing.T) {
	for _, text := range []string{
		strings.Repeat("x", 3*schemas.MaxPartBytes+5),
		strings.Repeat("\x01", schemas.MaxPartBytes),
		strings.Repeat("é<\"", schemas.MaxPartBytes/2),
		strings.Repeat("\xff", schemas.MaxPartBytes),
		"short",
		"",
	} {
		parts := schemas.SplitText(text, schemas.MaxPartBytes)
		if strings.Join(parts, "") != text {
			t.Fatalf("the parts of a %d-byte text do not join to it", len(text))
		}
		for i, p := range parts {
			r := schemas.TaskRecord{JobID: jobID, Attempt: 999999, Seq: 1 << 40, Part: 1 << 20, More: true, Time: when, Text: p}
			b, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > schemas.MaxRecordBytes {
				t.Errorf("part %d of a %d-byte text encodes to %d bytes, limit %d", i, len(text), len(b), schemas.MaxRecordBytes)
			}
			if utf8.ValidString(text) && !utf8.ValidString(p) {
				t.Errorf("part %d cuts a UTF-8 sequence", i)
			}
		}
	}
}

func TestIsTaskRecord(t *testing.T) {
	r := schemas.TaskRecord{JobID: jobID, Attempt: 1, Seq: 1, Time: when, Text: `{"schema":"task_record/v1"}`}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !schemas.IsTaskRecord(b) {
		t.Errorf("an encoded record is not recognised: %s", b)
	}
	for _, raw := range []string{"plain output", `{"schema":"job_event/v1"}`, ` {"text":"{\"schema\":\"task_record/v1\"}"}`} {
		if schemas.IsTaskRecord([]byte(raw)) {
			t.Errorf("%q taken for a task record", raw)
		}
	}
}
