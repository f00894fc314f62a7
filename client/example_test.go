package client_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/schemas"
)

// serveInBackground serves c's state directory with config until the
// returned stop is called, as a "deployer up" would.
func serveInBackground(c *client.Client, config string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Serve(ctx, client.ServeOptions{Config: config}) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			log.Print(err)
		}
	}
}

// A program runs one allow-listed script on the embedded backend and
// prints its output and exit code. The program serves the state
// directory itself (a "deployer up" could serve it instead).
func ExampleClient_Submit() {
	ctx := context.Background()
	stateDir, config := exampleDeployment() // allow-lists "demo hello [NAME]"

	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop := serveInBackground(c, config)
	defer stop()

	job, err := c.Submit(ctx, client.Request{Container: "demo", Script: "hello", Args: []string{"client"}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Follow(ctx, job.ID, client.FollowOptions{
		OnLine: func(_ int, l schemas.LogLine) { fmt.Println(l.Text) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", res.ExitCode())
	// Output:
	// hello, client
	// exit code 0
}

// Follow reports how a job ended: the script's own exit code when it
// ran, or one of the Exit* codes (a request the policy refuses: 77).
func ExampleClient_Follow() {
	ctx := context.Background()
	stateDir, config := exampleDeployment()
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop := serveInBackground(c, config)
	defer stop()

	for _, script := range []string{"fail", "rm-rf"} {
		job, err := c.Submit(ctx, client.Request{Container: "demo", Script: script})
		if err != nil {
			log.Fatal(err)
		}
		res, err := c.Follow(ctx, job.ID, client.FollowOptions{
			OnLine: func(_ int, l schemas.LogLine) { fmt.Println("|", l.Text) },
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s, exit code %d (%s)\n", script, res.Terminal.Outcome, res.ExitCode(), res.Terminal.ReasonCode)
	}
	// Output:
	// | about to fail
	// fail: failed, exit code 3 (task_failed)
	// rm-rf: rejected, exit code 77 (unknown_script)
}

// Cancel stops a running job; its followers see it end cancelled.
func ExampleClient_Cancel() {
	ctx := context.Background()
	stateDir, config := exampleDeployment() // "demo sleep" prints "sleeping" and sleeps a minute
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop := serveInBackground(c, config)
	defer stop()

	job, err := c.Submit(ctx, client.Request{Container: "demo", Script: "sleep"})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Follow(ctx, job.ID, client.FollowOptions{
		OnLine: func(_ int, l schemas.LogLine) {
			fmt.Println(l.Text)
			ans, err := c.Cancel(ctx, job.ID, client.CancelOptions{Reason: "not today"})
			if err != nil {
				log.Fatal(err)
			}
			fmt.Println("cancel accepted:", ans.Accepted)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Terminal.Outcome, res.ExitCode())
	// Output:
	// sleeping
	// cancel accepted: true
	// cancelled 130
}

// Describe asks the gatekeeper what the caller may run.
func ExampleClient_Describe() {
	ctx := context.Background()
	stateDir, config := exampleDeployment()
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop := serveInBackground(c, config)
	defer stop()

	actx, cancel := context.WithTimeout(ctx, 30*time.Second) // nothing answers an unserved deployment
	defer cancel()
	d, err := c.Describe(actx, client.CallerFromEnv(os.Getenv))
	if err != nil {
		log.Fatal(err)
	}
	for _, ct := range d.Containers {
		fmt.Println(ct.Name, "-", ct.Description)
		for _, s := range ct.Scripts {
			fmt.Println("  ", s.Name)
		}
	}
	// Output:
	// demo - Scripts for the client's tests and examples.
	//    fail
	//    hello
	//    sleep
}

// A failed job lands in the dead-letter queue; replaying it sends its
// request through the gatekeeper again, under the policy in force, as a
// job whose id derives from the original's.
func ExampleClient_ReplayDeadLetters() {
	ctx := context.Background()
	stateDir, config := exampleDeployment()
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: stateDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop := serveInBackground(c, config)
	defer stop()

	job, err := c.Submit(ctx, client.Request{Container: "demo", Script: "fail"})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.Follow(ctx, job.ID, client.FollowOptions{}); err != nil {
		log.Fatal(err)
	}
	letters, err := c.DeadLetters(ctx, client.DeadLetterOptions{})
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range letters {
		fmt.Println(l.JobID == job.ID, l.Queue, l.Letter.Failure.Outcome, *l.Letter.Failure.ExitCode)
	}

	pol, err := policy.Load(config, policy.WithLocalBackend()) // the policy in force judges each replay
	if err != nil {
		log.Fatal(err)
	}
	items, err := c.ReplayDeadLetters(ctx, client.DeadLetterFilter{JobIDs: []string{job.ID}}, client.ReplayOptions{Policy: pol})
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println(it.Verdict, it.ReplayID == job.ID+"-r1")
		// The replay is a new job, run as the first was.
		res, err := c.Follow(ctx, it.ReplayID, client.FollowOptions{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Terminal.Outcome, res.ExitCode())
	}
	// Output:
	// true run failed 3
	// replayed true
	// failed 3
}

// A program that serves the embedded backend runs its tasks as itself
// re-executed: it calls RunTaskProcess before anything else.
func ExampleRunTaskProcess() {
	if code, ok := client.RunTaskProcess(context.Background(), os.Args[1:]); ok {
		os.Exit(code)
	}
	// The program's own work: open a client, serve, submit, follow...
}
