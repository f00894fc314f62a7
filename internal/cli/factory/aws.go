package factory

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"syscall"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/companion"
	"github.com/deployerhq/deployer/producer"
)

// AWS opens the aws backend for the commands. Package awscli implements
// it; a binary that links it (deployer-aws, infrastructure-deployer)
// sets Factory.AWS. Commands with more to do on AWS than open a client
// or a backend (doctor, rollback) ask Factory.AWS for an interface of
// their own.
type AWS interface {
	// Client opens a client on the AWS deployment the flags and the
	// environment select.
	Client(ctx context.Context, f *Factory) (*client.Client, error)
	// Backend opens the AWS backend, to serve it ("deployer up --backend
	// aws"); with provision, it first creates the queues, log groups and
	// lease table that are missing.
	Backend(ctx context.Context, f *Factory, provision bool) (backend.Backend, error)
}

// AWSBinary is deployer with everything linked: the same command line,
// which deployer hands every command that needs what it leaves out to
// (see HandOff). deployer leaves out the AWS SDK (initialising its
// service clients costs a process several milliseconds before main
// runs), Prometheus, the OTLP span exporter and the web dashboard (~0.9,
// ~0.8 and ~0.5 ms), all paid on every "deployer run" of the embedded
// backend (docs/performance.md).
const AWSBinary = companion.AWS

// execve replaces the process; tests replace it.
var execve = syscall.Exec

// HandOff runs the command line (Args) in AWSBinary in place of this
// process, with the same environment, streams and process id: what
// deployer does for a command that needs what it leaves out (need names
// it, as "the aws backend"), before that command has done anything. It
// returns only when it cannot: AWSBinary is not next to this binary, is
// of another build, or cannot be run; the error says which and how to
// fix it (exit 69, EX_UNAVAILABLE).
func (f *Factory) HandOff(need string) error {
	exe, err := f.Executable()
	if err != nil {
		return fmt.Errorf("locating the deployer binary: %w", err)
	}
	path, err := companion.Find(exe, AWSBinary, companion.AWSPackage)
	if err == nil {
		err = execve(path, append([]string{path}, f.Args...), os.Environ())
	}
	return &ExitError{Code: producer.ExitUnavailable, Err: fmt.Errorf(
		"%s needs %s, deployer with the AWS SDK, Prometheus, the OTLP exporter and the dashboard linked, which %s leaves out to start faster: %w\n  Install %s of the same release next to %s (make build puts both in bin/), or use %s instead",
		need, AWSBinary, f.ProgramName(), err, AWSBinary, exe, AWSBinary)}
}

// AWSPart returns the factory's aws backend (Factory.AWS) as T: AWS
// itself, or an interface of a command's own that package awscli
// implements (doctor.AWS, rollback.AWS). Where there is none (deployer),
// it hands the command line to deployer-aws instead (HandOff), and
// returns only HandOff's error.
func AWSPart[T any](f *Factory) (T, error) {
	var part T
	if f.AWS == nil {
		return part, f.HandOff("the aws backend")
	}
	return as[T](f.AWS, "the aws backend")
}

// Extra returns the factory's Extras as T, an interface of a command's
// own that package extras implements (up.Metrics, uicmd.Dashboard, the
// CLI's span exporter). Where there are none (deployer), it hands the command line
// to deployer-aws instead (HandOff, need naming what the command
// needs), and returns only HandOff's error.
func Extra[T any](f *Factory, need string) (T, error) {
	var part T
	if f.Extras == nil {
		return part, f.HandOff(need)
	}
	return as[T](f.Extras, "the extras")
}

// as returns parts as T, or an error naming both (what names parts).
func as[T any](parts any, what string) (T, error) {
	part, ok := parts.(T)
	if !ok {
		return part, fmt.Errorf("%T (%s) lacks %v", parts, what, reflect.TypeFor[T]())
	}
	return part, nil
}

// AWSLocation returns the region and the resource-name prefix of the aws
// backend the flags and the environment select ($DEPLOYER_AWS_REGION,
// $DEPLOYER_PREFIX; the flags win), as given: "" where neither says.
func (f *Factory) AWSLocation() (region, prefix string) {
	region, prefix = f.Region, f.Prefix
	if region == "" {
		region = f.Getenv("DEPLOYER_AWS_REGION")
	}
	if prefix == "" {
		prefix = f.Getenv("DEPLOYER_PREFIX")
	}
	return region, prefix
}
