package test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// lambdaInvoker is what an event source mapping invokes: one function,
// a pool of its environments, or whatever an alias points at.
type lambdaInvoker interface {
	invoke(ctx context.Context, event any) ([]byte, error)
}

// aliasFunction is a function as an event source mapping that names its
// alias reaches it: each invocation runs the package of the version the
// alias points at now, as Lambda does. The emulator (moto) keeps the
// versions and the alias; the test keeps the packages, by the release
// each version's description names ("deployer release R"), and runs each
// under the Runtime Interface Emulator the first time it is invoked.
type aliasFunction struct {
	t               testing.TB
	client          *lambda.Client
	function, alias string
	env             []string
	packages        map[string]string // release → unpacked package directory

	mu      sync.Mutex
	running map[string]*lambdaFunction // by version
	last    string                     // the version last invoked
}

// followAlias returns the function name's alias as an event source
// mapping reaches it, running the packages of packages (release → the
// package unpacked).
func followAlias(t *testing.T, client *lambda.Client, function, alias string, packages map[string]string, env []string) *aliasFunction {
	return &aliasFunction{t: t, client: client, function: function, alias: alias, env: env,
		packages: packages, running: map[string]*lambdaFunction{}}
}

// current returns the function of the version the alias points at,
// started if it is not running yet, and that version.
func (a *aliasFunction) current(ctx context.Context) (*lambdaFunction, string, error) {
	al, err := a.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(a.function), Name: aws.String(a.alias)})
	if err != nil {
		return nil, "", fmt.Errorf("reading alias %s of %s: %w", a.alias, a.function, err)
	}
	version := aws.ToString(al.FunctionVersion)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = version
	if f, ok := a.running[version]; ok {
		return f, version, nil
	}
	cfg, err := a.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{
		FunctionName: aws.String(a.function), Qualifier: aws.String(version)})
	if err != nil {
		return nil, "", fmt.Errorf("reading version %s of %s: %w", version, a.function, err)
	}
	release, ok := strings.CutPrefix(aws.ToString(cfg.Description), "deployer release ")
	dir, known := a.packages[release]
	if !ok || !known {
		return nil, "", fmt.Errorf("version %s of %s (%q) is no release this test packaged", version, a.function, aws.ToString(cfg.Description))
	}
	f := startLambda(a.t, a.function+":"+version, dir, a.env)
	a.running[version] = f
	return f, version, nil
}

func (a *aliasFunction) invoke(ctx context.Context, event any) ([]byte, error) {
	f, _, err := a.current(ctx)
	if err != nil {
		return nil, err
	}
	return f.invoke(ctx, event)
}

// output is what each version that ran wrote.
func (a *aliasFunction) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b strings.Builder
	for version, f := range a.running {
		fmt.Fprintf(&b, "--- %s version %s:\n%s", a.function, version, f.output())
	}
	return b.String()
}
