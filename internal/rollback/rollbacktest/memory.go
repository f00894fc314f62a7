package rollbacktest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/deployerhq/deployer/internal/rollback"
)

// Memory is an in-memory deployment: both ports and a Seeder, with AWS's
// semantics as far as rollback relies on them (version numbers per
// function from 1, revision numbers per family from 1, ARNs in AWS's
// form, aliases with revision ids). Fail injects errors. It is safe for
// concurrent use.
type Memory struct {
	// Fail, when set, is asked before each call of the ports with the
	// operation's AWS name ("UpdateAlias", "DescribeTaskDefinition", ...)
	// and the resource; an error it returns fails the call.
	Fail func(op, resource string) error

	mu        sync.Mutex
	functions map[string]*memFunction
	taskDefs  map[string]*rollback.TaskDefinition // by ARN
	revisions map[string]int                      // family → last revision
	services  map[string]string                   // "cluster/service" → task definition
	calls     []string
}

type memFunction struct {
	versions []rollback.Version
	alias    *rollback.AliasTarget
	aliasRev int
}

var (
	_ rollback.Functions = (*Memory)(nil)
	_ rollback.Tasks     = (*Memory)(nil)
	_ Seeder             = (*Memory)(nil)
)

// NewMemory returns an empty deployment.
func NewMemory() *Memory {
	return &Memory{
		functions: map[string]*memFunction{},
		taskDefs:  map[string]*rollback.TaskDefinition{},
		revisions: map[string]int{},
		services:  map[string]string{},
	}
}

// Harness returns a Harness on m.
func (m *Memory) Harness() Harness {
	return Harness{Ports: rollback.Ports{Functions: m, Tasks: m}, Seed: m}
}

// Calls returns the changing calls made through the ports so far
// ("UpdateAlias fn 3", "UpdateService cluster/service arn",
// "DeregisterTaskDefinition arn").
func (m *Memory) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

func (m *Memory) fail(op, resource string) error {
	if m.Fail == nil {
		return nil
	}
	return m.Fail(op, resource)
}

// Alias implements rollback.Functions.
func (m *Memory) Alias(_ context.Context, function, name string) (rollback.AliasTarget, error) {
	if err := m.fail("GetAlias", function); err != nil {
		return rollback.AliasTarget{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.functions[function]
	if f == nil || f.alias == nil || name != rollback.Alias {
		return rollback.AliasTarget{}, fmt.Errorf("alias %s of function %s: %w", name, function, rollback.ErrNotFound)
	}
	return *f.alias, nil
}

// Versions implements rollback.Functions.
func (m *Memory) Versions(_ context.Context, function string) ([]rollback.Version, error) {
	if err := m.fail("ListVersionsByFunction", function); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.functions[function]
	if f == nil {
		return nil, fmt.Errorf("function %s: %w", function, rollback.ErrNotFound)
	}
	return slices.Clone(f.versions), nil
}

// UpdateAlias implements rollback.Functions.
func (m *Memory) UpdateAlias(_ context.Context, function, name string, to rollback.AliasUpdate) error {
	if err := m.fail("UpdateAlias", function); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.functions[function]
	if f == nil || f.alias == nil || name != rollback.Alias {
		return fmt.Errorf("alias %s of function %s: %w", name, function, rollback.ErrNotFound)
	}
	if to.Version < 1 || to.Version > len(f.versions) {
		return fmt.Errorf("version %d of function %s: %w", to.Version, function, rollback.ErrNotFound)
	}
	if to.RevisionID != "" && to.RevisionID != f.alias.RevisionID {
		return fmt.Errorf("alias %s of function %s: %w", name, function, rollback.ErrConflict)
	}
	m.setAlias(f, to.Version, to.Description)
	m.calls = append(m.calls, fmt.Sprintf("UpdateAlias %s %d", function, to.Version))
	return nil
}

func (m *Memory) setAlias(f *memFunction, version int, description string) {
	f.aliasRev++
	f.alias = &rollback.AliasTarget{Version: version, Description: description, RevisionID: "rev-" + strconv.Itoa(f.aliasRev)}
}

// ActiveTaskDefinitions implements rollback.Tasks.
func (m *Memory) ActiveTaskDefinitions(context.Context) ([]string, error) {
	if err := m.fail("ListTaskDefinitions", "*"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for arn, td := range m.taskDefs {
		if td.Active {
			out = append(out, arn)
		}
	}
	slices.Sort(out)
	return out, nil
}

// DescribeTaskDefinition implements rollback.Tasks.
func (m *Memory) DescribeTaskDefinition(_ context.Context, arn string) (rollback.TaskDefinition, error) {
	if err := m.fail("DescribeTaskDefinition", arn); err != nil {
		return rollback.TaskDefinition{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	td := m.taskDefs[arn]
	if td == nil {
		return rollback.TaskDefinition{}, fmt.Errorf("task definition %s: %w", arn, rollback.ErrNotFound)
	}
	c := *td
	c.Tags = copyTags(td.Tags)
	return c, nil
}

// DeregisterTaskDefinition implements rollback.Tasks.
func (m *Memory) DeregisterTaskDefinition(_ context.Context, arn string) error {
	if err := m.fail("DeregisterTaskDefinition", arn); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	td := m.taskDefs[arn]
	if td == nil {
		return fmt.Errorf("task definition %s: %w", arn, rollback.ErrNotFound)
	}
	td.Active = false
	m.calls = append(m.calls, "DeregisterTaskDefinition "+arn)
	return nil
}

// ServiceTaskDefinition implements rollback.Tasks.
func (m *Memory) ServiceTaskDefinition(_ context.Context, cluster, service string) (string, error) {
	if err := m.fail("DescribeServices", cluster+"/"+service); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	td, ok := m.services[cluster+"/"+service]
	if !ok {
		return "", fmt.Errorf("service %s/%s: %w", cluster, service, rollback.ErrNotFound)
	}
	return td, nil
}

// UpdateService implements rollback.Tasks.
func (m *Memory) UpdateService(_ context.Context, cluster, service, arn string) error {
	if err := m.fail("UpdateService", cluster+"/"+service); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.services[cluster+"/"+service]; !ok {
		return fmt.Errorf("service %s/%s: %w", cluster, service, rollback.ErrNotFound)
	}
	if td := m.taskDefs[arn]; td == nil || !td.Active {
		return fmt.Errorf("task definition %s is not ACTIVE", arn)
	}
	m.services[cluster+"/"+service] = arn
	m.calls = append(m.calls, "UpdateService "+cluster+"/"+service+" "+arn)
	return nil
}

// Publish implements Seeder.
func (m *Memory) Publish(_ testing.TB, function, release string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.functions[function]
	if f == nil {
		f = &memFunction{}
		m.functions[function] = f
	}
	n := len(f.versions) + 1
	f.versions = append(f.versions, rollback.Version{Number: n, Description: rollback.DescriptionPrefix + release})
	return n
}

// SetAlias implements Seeder.
func (m *Memory) SetAlias(t testing.TB, function string, version int, description string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.functions[function]
	if f == nil || version > len(f.versions) {
		t.Fatalf("memory: no version %d of %s", version, function)
	}
	m.setAlias(f, version, description)
}

// Register implements Seeder.
func (m *Memory) Register(_ testing.TB, family string, tags map[string]string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revisions[family]++
	rev := m.revisions[family]
	arn := fmt.Sprintf("arn:aws:ecs:us-east-1:123456789012:task-definition/%s:%d", family, rev)
	m.taskDefs[arn] = &rollback.TaskDefinition{ARN: arn, Family: family, Revision: rev, Active: true, Tags: copyTags(tags)}
	return arn
}

// SetService implements Seeder.
func (m *Memory) SetService(_ testing.TB, cluster, service, arn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.services[cluster+"/"+service] = arn
}

func copyTags(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}
