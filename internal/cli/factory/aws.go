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

// AWSBinary is deployer with the AWS SDK linked: the same command line,
// which deployer hands every command that needs the aws backend to (see
// HandOff). deployer itself leaves the SDK out: initialising the SDK's
// service clients costs a process several milliseconds before main
// runs, on every "deployer run" of the embedded backend
// (docs/performance.md).
const AWSBinary = companion.AWS

// execve replaces the process; tests replace it.
var execve = syscall.Exec

// HandOff runs the command line (Args) in AWSBinary in place of this
// process, with the same environment, streams and process id: what
// deployer does for a command that needs the aws backend, before that
// command has done anything. It returns only when it cannot: AWSBinary
// is not next to this binary, is of another build, or cannot be run;
// the error says which and how to fix it (exit 69, EX_UNAVAILABLE).
func (f *Factory) HandOff() error {
	exe, err := f.Executable()
	if err != nil {
		return fmt.Errorf("locating the deployer binary: %w", err)
	}
	path, err := companion.Find(exe, AWSBinary, companion.AWSPackage)
	if err == nil {
		err = execve(path, append([]string{path}, f.Args...), os.Environ())
	}
	return &ExitError{Code: producer.ExitUnavailable, Err: fmt.Errorf(
		"the aws backend is served by %s, deployer with the AWS SDK, which %s leaves out to start faster: %w\n  Install %s of the same release next to %s (make build puts both in bin/), or use %s instead",
		AWSBinary, f.ProgramName(), err, AWSBinary, exe, AWSBinary)}
}

// AWSPart returns the factory's aws backend (Factory.AWS) as T: AWS
// itself, or an interface of a command's own that package awscli
// implements (doctor.AWS, rollback.AWS). Where there is none (deployer),
// it hands the command line to deployer-aws instead (HandOff), and
// returns only HandOff's error.
func AWSPart[T any](f *Factory) (T, error) {
	var part T
	if f.AWS == nil {
		return part, f.HandOff()
	}
	part, ok := f.AWS.(T)
	if !ok {
		return part, fmt.Errorf("the aws backend %T lacks %v", f.AWS, reflect.TypeFor[T]())
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
