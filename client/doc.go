// Package client is deployer for Go programs: submit allow-listed jobs,
// follow their output, cancel them, look at what ran, and list, replay and
// purge dead letters, on either backend.
//
// Open a client on the embedded backend (a state directory on this
// machine: SQLite and local processes) with OpenEmbedded, or on an AWS
// deployment (SQS, CloudWatch Logs, DynamoDB, made by the Terraform
// module) with awsclient.Open (package client/awsclient, which links the
// AWS SDK so that this package need not). Both give the same Client;
// every method works the same on both, except Serve, which only the
// embedded backend needs.
//
//	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: dir})
//	...
//	defer c.Close()
//	job, err := c.Submit(ctx, client.Request{Container: "infra", Script: "plan", Args: []string{"-var", "x=1"}})
//	...
//	res, err := c.Follow(ctx, job.ID, client.FollowOptions{
//		OnLine: func(_ int, l schemas.LogLine) { fmt.Println(l.Text) },
//	})
//	...
//	os.Exit(res.ExitCode())
//
// The deployer command line is built on this package and nothing below
// it: "deployer run", "wait", "logs", "status", "jobs", "cancel", "batch",
// "dlq" and "schedules", and the web dashboard ("deployer ui"), call the
// methods you call.
//
// # Who runs the jobs
//
// A client asks; a pipeline (gatekeeper, worker, logshipper) decides and
// runs. On AWS the deployment is the pipeline. On the embedded backend a
// "deployer up" serving the state directory is, or the program itself:
// Client.Serve runs the pipeline in the calling process. Its tasks run as
// child processes of this program re-executed, so a program that serves
// calls RunTaskProcess first thing in main; or awsclient.RunTaskProcess,
// when its tasks' secrets reference Secrets Manager or SSM, which this
// package does not read so as not to link the AWS SDK.
//
// # Guarantees
//
// Follow delivers each line of the task's output once and in the task's
// order, even when the stream delivers events twice, out of order or
// late, and fills gaps from the task log before it returns. A request is
// checked by the gatekeeper against the allow-list and the caller's
// verified identity (on the embedded backend, the OS user running the
// program; on AWS, the IAM principal of the SDK's default credential
// chain); nothing this package does bypasses it, dead-letter replays
// included.
//
// # Compatibility
//
// The package path github.com/deployerhq/deployer/client is stable: it
// will not move. Its exported names follow semantic versioning: from
// v1.0.0 on, a program that compiles against one release compiles
// against every later v1 release and behaves the same, bug fixes aside.
// Names are added, never removed or changed in signature; fields are
// added to option and result structs, so build them with field names.
// Before v1.0.0 (deployer has no tagged release yet) the same rule is
// kept, and a change that breaks it is listed in CHANGELOG.md under
// "Changed" with how to adapt. The types this package re-exports
// (Request, Job, FollowOptions, ...: aliases of package producer's) and
// the contracts of package schemas it hands out are covered by the same
// promise. Packages under internal/, and producer's other names, are
// not: build on this package.
package client
