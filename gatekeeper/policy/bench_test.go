package policy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchArgs is a 20-argument request to terraform-planner/plan.
func benchArgs() []string {
	args := []string{"--path", "live/prod/vpc", "--ref=main", "--refresh-only"}
	for i := range 8 {
		args = append(args, "--var-file", fmt.Sprintf("env/prod-%d.tfvars", i))
	}
	return args
}

// BenchmarkResolve reports the latency distribution of resolving a
// 20-argument request (target: p99 below 50 µs).
func BenchmarkResolve(b *testing.B) {
	p := testPolicy(b)
	req := request("terraform-planner", "plan", benchArgs()...)
	if _, err := p.Resolve(req, ciRole, testNow); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, err := p.Resolve(req, ciRole, testNow)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*50/100].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkResolveParallel measures throughput with every core resolving.
func BenchmarkResolveParallel(b *testing.B) {
	p := testPolicy(b)
	req := request("terraform-planner", "plan", benchArgs()...)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Resolve(req, ciRole, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkResolveRejected measures a refusal (a restricted option in a
// look-alike spelling at the end of the arguments).
func BenchmarkResolveRejected(b *testing.B) {
	p := testPolicy(b)
	req := request("terraform-planner", "plan", append(benchArgs()[:19], "--DESTROY")...)
	b.ReportAllocs()
	for range b.N {
		if _, err := p.Resolve(req, ciRole, testNow); err == nil {
			b.Fatal("accepted")
		}
	}
}

// tenContainers is a realistic configuration: 10 containers of 4 scripts,
// with value patterns, ref rules, callers and secrets.
func tenContainers() []byte {
	var b strings.Builder
	b.WriteString("lanes:\n  deploys: {concurrency: 3}\n  amis: {concurrency: 2}\ncontainers:\n")
	for c := range 10 {
		fmt.Fprintf(&b, `  container-%d:
    description: container %d of the benchmark
    image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/runner-%d:v1.%d.0
    environment_vars: {TF_IN_AUTOMATION: "1", REGION: us-east-1}
    secrets:
      GITHUB_TOKEN: arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/github-%d-AbCdEf
      SLACK_URL: /ci/slack/url-%d
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*", "arn:aws:sts::123456789012:assumed-role/deployer/*", "user:alice"]
    task_cpu: 1024
    task_memory: 2048
    max_task_cpu: 4096
    max_task_memory: 16384
    launch_types: [FARGATE, EC2]
    timeout: 30m
    max_timeout: 3h
    lane: deploys
    retry: {max_attempts: 2, on_exit_codes: [75]}
    script_config:
`, c, c, c, c, c, c)
		for s := range 4 {
			fmt.Fprintf(&b, `      script-%d:
        hardcoded_options:
          --repo: ["https://github.com/acme/infrastructure-live-%d"]
          --lock-timeout: ["5m"]
        hardcoded_args: [run]
        allowed_options: [--path, --ref, --var-file, -target, --parallelism, --out]
        allowed_options_without_args: [--refresh-only, --compact-warnings]
        restricted_options: [--destroy, -auto-approve, --force]
        restricted_options_regex:
          --ref: "main|release/v[0-9]+\\.[0-9]+|[0-9a-f]{40}"
          --path: "(live|modules)/[a-z0-9/_-]{1,200}"
          --parallelism: "[1-9]|10"
          --out: "[a-z0-9._-]+\\.tfplan"
        repeatable_options: [--var-file, -target]
        allowed_refs: ["main", "[0-9a-f]{40}", "release/v[0-9]+\\.[0-9]+"]
        allowed_callers: ["arn:aws:iam::123456789012:role/ci-deployer-%d"]
        timeout: 1h
`, s, c, s)
		}
	}
	return []byte(b.String())
}

// BenchmarkLoad reports how long parsing and compiling a realistic
// 10-container configuration takes (target: below 20 ms).
func BenchmarkLoad(b *testing.B) {
	data := tenContainers()
	if _, err := Parse(data, ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Parse(data, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/load")
}
