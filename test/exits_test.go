package test

import (
	"strings"
	"testing"
)

// TestUnknownIDsExitNoInput: a job, batch or dead letter the state
// directory has no record of ends with 66 (EX_NOINPUT) and names what was
// looked for and where, never with a bare 1.
func TestUnknownIDsExitNoInput(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	if r := e.run("run", "--", "terraform-planner", "print", "hi"); r.code != 0 {
		t.Fatalf("run: exit %d; stderr:\n%s", r.code, r.stderr)
	}
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	const batch = "batch-" + job
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"logs", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"wait", job}, "no job " + job + " in the state directory " + e.state},
		{[]string{"batch", "status", batch}, "no batch " + batch + " in the state directory " + e.state},
		{[]string{"batch", "logs", batch}, "no batch " + batch + " in the state directory " + e.state},
		{[]string{"jobs", "--batch", batch}, "no batch " + batch},
		{[]string{"dlq", "show", job}, "no dead letter for job " + job},
	} {
		r := e.run(c.args...)
		if r.code != 66 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, want 66 and %q; stderr:\n%s", c.args, r.code, c.want, r.stderr)
		}
	}
}
