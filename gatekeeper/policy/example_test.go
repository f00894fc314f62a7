package policy_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

func Example() {
	p, err := policy.Parse([]byte(`
containers:
  terraform-planner:
    image: deploy-runner:v1
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    script_config:
      plan:
        hardcoded_options:
          --repo: ["https://github.com/acme/live"]
        allowed_options: [--path, --ref]
        allowed_options_without_args: [--refresh-only]
        restricted_options: [--destroy]
        restricted_options_regex:
          --ref: "main|[0-9a-f]{40}"
`), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	caller := schemas.Identity{Principal: "arn:aws:sts::123456789012:assumed-role/ci-deployer/run-1", Source: "sqs_sender_id"}
	req := schemas.JobRequest{
		JobID: "01HZX3K8Q9M2N4P5R6S7T8V9W0", Container: "terraform-planner", Script: "plan",
		Args: schemas.ArgList("--path", "live/prod", "--ref=main"), Stream: "s", Attempt: 1,
	}
	order, err := p.Resolve(req, caller, time.Now())
	fmt.Println(order.Argv, err)

	req.Args = schemas.Args{Legacy: "--path live/prod --Destroy", IsLegacy: true}
	_, err = p.Resolve(req, caller, time.Now())
	var rej *policy.Rejection
	if errors.As(err, &rej) {
		fmt.Println(rej.Code + ": " + rej.Message)
	}
	// Output:
	// [--repo https://github.com/acme/live --path live/prod --ref=main] <nil>
	// option_restricted: option --Destroy is restricted for terraform-planner/plan; allowed options: --path, --ref, --refresh-only
}

func ExampleSplitWords() {
	words, err := policy.SplitWords(`--path 'live/prod east' --var "region=us-east-1" $HOME`)
	fmt.Printf("%q %v\n", words, err)
	_, err = policy.SplitWords(`--path 'live`)
	fmt.Println(err)
	// Output:
	// ["--path" "live/prod east" "--var" "region=us-east-1" "$HOME"] <nil>
	// unterminated single quote at byte 7
}
