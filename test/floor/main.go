// Command floor measures the least a served job can cost on this machine,
// for comparing deployer's fast path with (docs/performance.md):
//
//	go run ./test/floor [-runs N] [-respawn] SCRIPT [-- COMMAND...]
//
// It keeps the skeleton of a served "deployer run" and nothing else: a
// client process asks a resident server over a Unix socket; the server
// records the request, hands it over a pipe to a supervisor process
// started ahead of it, and answers once the supervisor reports the end;
// the supervisor records its claim, runs SCRIPT (no shell, no output
// kept) and records the end. Four commits to a SQLite database in WAL
// mode with synchronous=NORMAL, as deployer's state database is; no
// policy, queue, stream, lane, journal, or wake-up through the database.
// The server takes the supervisor back for the next request, as deployer
// up does since the twenty-first round; with -respawn it starts another
// 4 ms after each request's end instead, as before it. The client is this
// binary, which links SQLite as deployer does.
//
// It times N runs (default 100) of SCRIPT executed directly and of the
// floor's client, alternating as BenchmarkFastPathNoop does, and of
// COMMAND too when one is given (such as a served "deployer run" of the
// same script: see test/benchdir.sh), and prints each one's median and
// its ratio to direct exec's.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

// The hidden modes the tool runs itself in.
const (
	serveArg     = "__serve"
	superviseArg = "__supervise"
	askArg       = "__ask"
)

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case serveArg:
			err = serve(os.Args[2:])
		case superviseArg:
			err = supervise(os.Args[2:])
		case askArg:
			err = ask(os.Args[2:])
		default:
			err = measure(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Fprintln(os.Stderr, "usage: floor [-runs N] [-respawn] SCRIPT [-- COMMAND...]")
	os.Exit(64)
}

// measure starts a server in a directory of its own and times the runs.
func measure(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	runs := fs.Int("runs", 100, "runs of each")
	respawn := fs.Bool("respawn", false, "a new supervisor for each request, started 4 ms after the last one's end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() < 1 || *runs < 1 {
		return errors.New("usage: floor [-runs N] [-respawn] SCRIPT [-- COMMAND...]")
	}
	script, err := filepath.Abs(fs.Arg(0))
	if err != nil {
		return err
	}
	if strings.ContainsRune(script, '\n') {
		return fmt.Errorf("the script's path %q has a newline: requests are lines", script)
	}
	other := fs.Args()[1:]
	if len(other) > 0 && other[0] == "--" {
		other = other[1:]
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "floor-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	sock := filepath.Join(dir, "floor.sock")
	server := exec.Command(self, serveArg, sock, filepath.Join(dir, "floor.db"), strconv.FormatBool(*respawn)) //nolint:gosec,noctx // this binary, stopped below
	server.Stderr = os.Stderr
	ready, err := server.StdoutPipe()
	if err != nil {
		return err
	}
	if err := server.Start(); err != nil {
		return err
	}
	defer func() {
		_ = server.Process.Kill()
		_ = server.Wait()
	}()
	if line, err := bufio.NewReader(ready).ReadString('\n'); err != nil || line != "serving\n" {
		return fmt.Errorf("the server did not start: %q, %w", line, err)
	}

	cmds := [][]string{{script}, {self, askArg, sock, script}}
	names := []string{"direct exec", "floor"}
	if len(other) > 0 {
		fmt.Printf("command: %s\n", strings.Join(other, " "))
		cmds, names = append(cmds, other), append(names, "command")
	}
	times := make([][]time.Duration, len(cmds))
	for round := range *runs + 1 {
		for i, c := range cmds {
			d, err := timed(c)
			if err != nil {
				return err
			}
			if round > 0 { // the first warms up
				times[i] = append(times[i], d)
			}
		}
	}
	base := median(times[0])
	for i, name := range names {
		m := median(times[i])
		fmt.Printf("%-12s median %6.2f ms  %5.1fx  (%d runs)\n", name, ms(m), float64(m)/float64(base), len(times[i]))
	}
	return nil
}

// timed runs argv to its end and returns how long it took.
func timed(argv []string) (time.Duration, error) {
	start := time.Now()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil { //nolint:gosec,noctx // the caller's own commands
		return 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// open opens the database at path as deployer's state database is.
func open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// serve answers requests ("SCRIPT\n") on the socket args[0] one at a
// time, with the database args[1]; args[2] is -respawn's value.
func serve(args []string) error {
	if len(args) != 3 {
		return errors.New("usage: __serve SOCKET DATABASE RESPAWN")
	}
	sock, path := args[0], args[1]
	respawn, err := strconv.ParseBool(args[2])
	if err != nil {
		return err
	}
	ctx := context.Background()
	db, err := open(path)
	if err != nil {
		return err
	}
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, script TEXT NOT NULL, state TEXT NOT NULL, code INTEGER)",
		"CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, job INTEGER NOT NULL, body TEXT NOT NULL)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "unix", sock)
	if err != nil {
		return err
	}
	spares := make(chan *spare, 1)
	first, err := startSpare(self, path)
	if err != nil {
		return err
	}
	spares <- first
	fmt.Println("serving")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		sp := <-spares
		if err := answer(ctx, db, c, sp); err != nil {
			return err
		}
		if !respawn {
			spares <- sp
			continue
		}
		// The supervisor exits, and the next starts 4 ms later (deployer's
		// SpareAfterEnd), while the server takes the next request.
		_ = sp.in.Close()
		go func(old *spare) { _ = old.cmd.Wait() }(sp)
		go func() {
			time.Sleep(4 * time.Millisecond)
			next, err := startSpare(self, path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "floor: starting a supervisor:", err)
				os.Exit(1)
			}
			spares <- next
		}()
	}
}

// answer serves one request on c with the supervisor sp.
func answer(ctx context.Context, db *sql.DB, c net.Conn, sp *spare) error {
	defer func() { _ = c.Close() }()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	script := strings.TrimSuffix(line, "\n")
	res, err := db.ExecContext(ctx, "INSERT INTO jobs (script, state) VALUES (?, 'accepted')", script)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(sp.in, "%d %q\n", id, script); err != nil { // quoted: a path may hold spaces
		return err
	}
	end, err := sp.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("the supervisor: %w", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO events (job, body) VALUES (?, ?)", id, "finished "+strings.TrimSpace(end)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c, "finished %s", end)
	return err
}

// spare is a supervisor started ahead of its request.
type spare struct {
	cmd *exec.Cmd
	in  *os.File
	out *bufio.Reader
}

func startSpare(self, path string) (*spare, error) {
	cmd := exec.Command(self, superviseArg, path) //nolint:gosec,noctx // this binary, for the server's life
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &spare{cmd: cmd, in: in.(*os.File), out: bufio.NewReader(out)}, nil
}

// supervise runs the requests read from stdin (a line each: the id and
// the script's path, quoted), with the database args[0], reporting each
// one's exit code on stdout, until stdin ends.
func supervise(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: __supervise DATABASE")
	}
	ctx := context.Background()
	db, err := open(args[0])
	if err != nil {
		return err
	}
	claim, err := db.PrepareContext(ctx, "UPDATE jobs SET state = 'claimed' WHERE id = ?")
	if err != nil {
		return err
	}
	end, err := db.PrepareContext(ctx, "UPDATE jobs SET state = 'ended', code = ? WHERE id = ?")
	if err != nil {
		return err
	}
	in := bufio.NewReader(os.Stdin)
	for {
		var (
			id     int64
			script string
		)
		if _, err := fmt.Fscanf(in, "%d %q\n", &id, &script); err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the server is done with it
			}
			return fmt.Errorf("reading a request: %w", err)
		}
		if _, err := claim.ExecContext(ctx, id); err != nil {
			return err
		}
		code := 0
		if err := exec.Command(script).Run(); err != nil { //nolint:gosec,noctx // the caller's script
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				return err
			}
			code = exit.ExitCode()
		}
		if _, err := end.ExecContext(ctx, code, id); err != nil {
			return err
		}
		if _, err := fmt.Printf("%d\n", code); err != nil {
			return err
		}
	}
}

// ask is the client: it sends args[1] to the server at args[0] and waits
// for the answer.
func ask(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: __ask SOCKET SCRIPT")
	}
	c, err := (&net.Dialer{}).DialContext(context.Background(), "unix", args[0]) //nolint:gosec // the socket this tool's own server listens on
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if _, err := fmt.Fprintf(c, "%s\n", args[1]); err != nil {
		return err
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no answer: %w", err)
	}
	_, err = fmt.Fprint(os.Stderr, answer)
	return err
}
