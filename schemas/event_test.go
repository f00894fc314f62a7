package schemas_test

import (
	"errors"
	"testing"

	"github.com/deployerhq/deployer/schemas"
)

func TestLogLinesNeedASeqOrAnID(t *testing.T) {
	for _, tt := range []struct {
		what string
		line schemas.LogLine
		ok   bool
	}{
		{"sequenced", schemas.LogLine{Seq: 1, Text: "a"}, true},
		{"unsequenced with an id (CloudWatch subscription)", schemas.LogLine{ID: "3721", Text: "a"}, true},
		{"neither", schemas.LogLine{Text: "a"}, false},
		{"negative seq", schemas.LogLine{Seq: -1, ID: "x", Text: "a"}, false},
	} {
		ev := schemas.JobEvent{Schema: schemas.JobEventV1, JobID: jobID, ID: "log:x", Type: schemas.EventLog, Lines: []schemas.LogLine{tt.line}}
		err := ev.Validate()
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.what, err)
		}
		if !tt.ok && !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", tt.what, err)
		}
	}
}
