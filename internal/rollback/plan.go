package rollback

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Deployment names the deployment to roll back and where to.
type Deployment struct {
	// Prefix starts the names of the deployment's functions and worker
	// service, and is the value of its task definitions'
	// deployer:deployment tag. Required.
	Prefix string
	// Cluster is the ECS cluster of the worker service. Defaults to
	// Prefix+"tasks".
	Cluster string
	// To is the release to roll back to. Empty: the release before the
	// one the gatekeeper's alias points at (see MakePlan).
	To string
}

// Gatekeeper is the gatekeeper function's name.
func (d Deployment) Gatekeeper() string { return d.Prefix + "gatekeeper" }

// Logshipper is the logshipper function's name.
func (d Deployment) Logshipper() string { return d.Prefix + "logshipper" }

// WorkerService is the worker's ECS service.
func (d Deployment) WorkerService() string { return d.Prefix + "worker" }

func (d Deployment) withDefaults() Deployment {
	if d.Cluster == "" {
		d.Cluster = d.Prefix + "tasks"
	}
	return d
}

// Kind is what a Change does.
type Kind int

// The kinds of change, in the order a plan makes them.
const (
	// MoveAlias points a function's alias live at another version.
	MoveAlias Kind = iota + 1
	// UpdateService makes the worker service run another revision.
	UpdateService
	// Deregister makes a task definition revision INACTIVE.
	Deregister
)

// Change is one change of a plan.
type Change struct {
	Kind Kind
	// Function, FromVersion and ToVersion: MoveAlias.
	Function               string
	FromVersion, ToVersion int
	// Cluster, Service, FromTaskDefinition and ToTaskDefinition (ARNs
	// or family:revision): UpdateService.
	Cluster, Service                     string
	FromTaskDefinition, ToTaskDefinition string
	// TaskDefinition is the ARN of the revision Deregister deregisters.
	TaskDefinition string
	// FromRelease and ToRelease are the releases before and after
	// (Deregister: FromRelease is the revision's release).
	FromRelease, ToRelease string

	aliasRevision string
}

// Line describes the change in one line: as done, or, with planned, as
// it would be done.
func (c Change) Line(planned bool) string {
	verb := func(done, would string) string {
		if planned {
			return would
		}
		return done
	}
	switch c.Kind {
	case MoveAlias:
		return fmt.Sprintf("lambda %s: %s alias %s from version %d (%s) to version %d (%s)",
			c.Function, verb("moved", "would move"), Alias, c.FromVersion, releaseName(c.FromRelease), c.ToVersion, releaseName(c.ToRelease))
	case UpdateService:
		return fmt.Sprintf("ecs service %s/%s: %s from %s (%s) to %s (%s)",
			c.Cluster, c.Service, verb("moved", "would move"), shortName(c.FromTaskDefinition), releaseName(c.FromRelease),
			shortName(c.ToTaskDefinition), releaseName(c.ToRelease))
	case Deregister:
		return fmt.Sprintf("ecs task definition %s (%s): %s", shortName(c.TaskDefinition), releaseName(c.FromRelease), verb("deregistered", "would deregister"))
	}
	return fmt.Sprintf("unknown change %d", c.Kind)
}

func releaseName(r string) string {
	if r == "" {
		return "no release"
	}
	return "release " + r
}

// shortName is "family:revision" of a task definition ARN.
func shortName(ref string) string {
	if f, r, ok := ParseTaskDefinition(ref); ok {
		return fmt.Sprintf("%s:%d", f, r)
	}
	return ref
}

// Plan is what a rollback changes, computed once by MakePlan and made by
// Apply.
type Plan struct {
	// Deployment is the deployment planned for, defaults filled.
	Deployment Deployment
	// Live is the release the gatekeeper's alias pointed at when planned,
	// LiveVersion that version.
	Live        string
	LiveVersion int
	// Target is the release rolled back to.
	Target string
	// Resumed, when set, is the release an earlier rollback to Target
	// moved the gatekeeper from: this plan finishes that rollback rather
	// than going one release further back.
	Resumed string
	// Retired are the releases whose task definition revisions are
	// deregistered: Live, and every release the gatekeeper published
	// after Target's newest version.
	Retired []string
	// Skipped are releases passed over on the way back because an
	// earlier rollback retired them (see MakePlan).
	Skipped []string
	// Changes are made in order: the gatekeeper's alias, the
	// logshipper's, the worker service, then the deregistrations.
	Changes []Change
	// Notes say what is left as it is, and why.
	Notes []string
}

// rolledBackMarker is the description rollback gives the aliases it
// moves; parsing it back tells a second run that the rollback is done.
const rolledBackMarker = "rolled back from release %s to release %s by deployer rollback"

// maxAliasDescription is Lambda's limit on an alias's description.
const maxAliasDescription = 256

// aliasDescription is the description of an alias moved from release
// from to release to.
func aliasDescription(from, to string) string {
	d := fmt.Sprintf(rolledBackMarker, from, to)
	if len(d) > maxAliasDescription {
		d = d[:maxAliasDescription]
	}
	return d
}

// rolledBackFrom returns the release an earlier rollback moved an alias
// from, when its description says it moved it to release to.
func rolledBackFrom(description, to string) string {
	rest, ok := strings.CutPrefix(description, "rolled back from release ")
	if !ok {
		return ""
	}
	from, ok := strings.CutSuffix(rest, " to release "+to+" by deployer rollback")
	if !ok {
		return ""
	}
	return from
}

// describeParallel bounds the concurrent DescribeTaskDefinition calls of
// a scan.
const describeParallel = 4

// MakePlan computes, without changing anything, how to roll deployment d
// back:
//
//   - The live release R is the one the description of the version the
//     gatekeeper's alias live points at names ("deployer release R").
//   - The target: d.To when set (a release the gatekeeper has a version
//     of, not newer than R). Otherwise, when the gatekeeper's alias says
//     an earlier rollback moved it to R, R itself: that rollback is
//     finished, not repeated, so running rollback twice goes back one
//     release, not two. Otherwise the release of the newest version below
//     the live one that names another release than R, passing over the
//     releases an earlier rollback retired (none of their task
//     definitions ACTIVE while an older release's are).
//   - The retired releases: R and every release the gatekeeper published
//     after the target's newest version.
//   - Each function's alias moves to its newest version of the target. A
//     function with no version of the target stays where it is, unless it
//     is on a retired release: then it moves to its newest version of a
//     release that is not retired.
//   - The worker service moves to the newest ACTIVE revision of its
//     family of the target, else of a release that is not retired.
//   - In every task definition family tagged deployer:deployment=Prefix,
//     the ACTIVE revisions of retired releases are deregistered when the
//     family keeps an ACTIVE revision of another release, so that the
//     newest ACTIVE revision, which ECS runs for a container naming its
//     family, is the target's.
//
// The error wraps ErrNotFound when the gatekeeper or its alias is
// missing, ErrNothingToRollBack when there is no release to go back to,
// and a port's error otherwise.
func MakePlan(ctx context.Context, p Ports, d Deployment) (*Plan, error) {
	d = d.withDefaults()
	if d.Prefix == "" {
		return nil, errors.New("planning a rollback: no deployment prefix")
	}
	gk := d.Gatekeeper()
	alias, versions, err := functionState(ctx, p.Functions, gk, d.Prefix)
	if err != nil {
		return nil, err
	}
	if alias.Version == 0 {
		return nil, fmt.Errorf("alias %s of Lambda function %s points at $LATEST, not a published version: the deployment has no releases to roll back between (%w)", Alias, gk, ErrNothingToRollBack)
	}
	cur, ok := findVersion(versions, alias.Version)
	if !ok {
		return nil, fmt.Errorf("alias %s of Lambda function %s points at version %d, which its versions do not list", Alias, gk, alias.Version)
	}
	live := cur.Release()
	if live == "" {
		return nil, fmt.Errorf("version %d of Lambda function %s, which alias %s points at, is described %q, not \"%s<R>\": it was not deployed by a module that names releases (%w)",
			alias.Version, gk, Alias, cur.Description, DescriptionPrefix, ErrNothingToRollBack)
	}
	families, err := scan(ctx, p.Tasks, d.Prefix)
	if err != nil {
		return nil, err
	}

	plan := &Plan{Deployment: d, Live: live, LiveVersion: alias.Version}
	newest := newestVersions(versions)
	earlier := rolledBackFrom(alias.Description, live)
	switch {
	case d.To != "":
		n, ok := newest[d.To]
		if !ok {
			return nil, fmt.Errorf("no version of Lambda function %s names release %q; its releases, newest first: %s (%w)",
				gk, d.To, strings.Join(releasesNewestFirst(newest), ", "), ErrNothingToRollBack)
		}
		if d.To != live && n > alias.Version {
			return nil, fmt.Errorf("release %s (version %d of %s) is newer than the live release %s (version %d): rollback only goes back; to go forward, apply Terraform (%w)",
				d.To, n, gk, live, alias.Version, ErrNothingToRollBack)
		}
		plan.Target = d.To
		if d.To == live {
			plan.Resumed = earlier
		}
	case earlier != "":
		plan.Target, plan.Resumed = live, earlier
	default:
		plan.Target, plan.Skipped = previous(versions, alias.Version, live, newest, families)
		if plan.Target == "" {
			msg := fmt.Sprintf("Lambda function %s has no version before version %d (release %s) that names another release", gk, alias.Version, live)
			if len(plan.Skipped) > 0 {
				msg += fmt.Sprintf(" but %s, which an earlier rollback retired (their task definitions are deregistered); name one with --to to go back to it anyway", strings.Join(plan.Skipped, ", "))
			}
			return nil, fmt.Errorf("%s (%w)", msg, ErrNothingToRollBack)
		}
	}
	retired := retiredReleases(versions, newest[plan.Target], live, plan.Target)
	plan.Retired = sortedKeys(retired)

	// The gatekeeper first: the rest follows the requests it forwards.
	if err := plan.function(gk, alias, versions, retired); err != nil {
		return nil, err
	}
	ls := d.Logshipper()
	lsAlias, lsVersions, err := functionState(ctx, p.Functions, ls, d.Prefix)
	if err != nil {
		return nil, err
	}
	if err := plan.function(ls, lsAlias, lsVersions, retired); err != nil {
		return nil, err
	}
	if err := plan.service(ctx, p.Tasks, families, retired); err != nil {
		return nil, err
	}
	plan.deregistrations(families, retired)
	return plan, nil
}

// functionState reads a function's alias and versions.
func functionState(ctx context.Context, fns Functions, name, prefix string) (AliasTarget, []Version, error) {
	alias, err := fns.Alias(ctx, name, Alias)
	if errors.Is(err, ErrNotFound) {
		return AliasTarget{}, nil, fmt.Errorf("no alias %s of Lambda function %s: is deployer deployed in this region with prefix %q, by a module that publishes versions behind that alias? (%w)",
			Alias, name, prefix, err)
	}
	if err != nil {
		return AliasTarget{}, nil, fmt.Errorf("reading alias %s of Lambda function %s: %w", Alias, name, err)
	}
	versions, err := fns.Versions(ctx, name)
	if err != nil {
		return AliasTarget{}, nil, fmt.Errorf("listing the versions of Lambda function %s: %w", name, err)
	}
	slices.SortFunc(versions, func(a, b Version) int { return cmp.Compare(a.Number, b.Number) })
	return alias, versions, nil
}

func findVersion(vs []Version, n int) (Version, bool) {
	for _, v := range vs {
		if v.Number == n {
			return v, true
		}
	}
	return Version{}, false
}

// newestVersions maps each release the versions name to its newest
// version.
func newestVersions(vs []Version) map[string]int {
	out := map[string]int{}
	for _, v := range vs {
		if r := v.Release(); r != "" && v.Number > out[r] {
			out[r] = v.Number
		}
	}
	return out
}

func releasesNewestFirst(newest map[string]int) []string {
	rs := sortedKeys(newest)
	slices.SortStableFunc(rs, func(a, b string) int { return cmp.Compare(newest[b], newest[a]) })
	return rs
}

// previous returns the release to roll back to by default: the release
// of the newest version below below that names another release than
// live, passing over (and returning in skipped) the releases an earlier
// rollback retired.
func previous(vs []Version, below int, live string, newest map[string]int, families map[string][]TaskDefinition) (target string, skipped []string) {
	seen := map[string]bool{live: true}
	for _, v := range slices.Backward(vs) {
		r := v.Release()
		if v.Number >= below || r == "" || seen[r] {
			continue
		}
		seen[r] = true
		if wasRetired(r, newest, families) {
			skipped = append(skipped, r)
			continue
		}
		return r, skipped
	}
	return "", skipped
}

// wasRetired reports whether an earlier rollback retired release r: none
// of its task definition revisions is ACTIVE while a revision of an
// older release (one whose newest gatekeeper version is lower) is.
// skip_destroy keeps every release's revisions ACTIVE, so only a
// rollback (or a person) removes a release's and keeps an older one's.
func wasRetired(r string, newest map[string]int, families map[string][]TaskDefinition) bool {
	older := false
	for _, revs := range families {
		for _, td := range revs {
			switch rel := td.Release(); {
			case rel == r:
				return false
			case rel != "" && newest[rel] != 0 && newest[rel] < newest[r]:
				older = true
			}
		}
	}
	return older
}

// retiredReleases are live (unless it is the target) and the releases of
// the versions after the target's newest.
func retiredReleases(vs []Version, targetNewest int, live, target string) map[string]bool {
	out := map[string]bool{}
	if live != target {
		out[live] = true
	}
	for _, v := range vs {
		if r := v.Release(); r != "" && r != target && v.Number > targetNewest {
			out[r] = true
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// function plans the move of one function's alias.
func (p *Plan) function(name string, alias AliasTarget, vs []Version, retired map[string]bool) error {
	curRelease := ""
	if v, ok := findVersion(vs, alias.Version); ok {
		curRelease = v.Release()
	}
	here := fmt.Sprintf("version %d (%s)", alias.Version, releaseName(curRelease))
	if alias.Version == 0 {
		here = "$LATEST"
	}
	var to *Version
	for i := range slices.Backward(vs) {
		if vs[i].Release() == p.Target {
			to = &vs[i]
			break
		}
	}
	if to == nil {
		if !retired[curRelease] && alias.Version != 0 {
			p.note("lambda %s: has no version of release %s (its code and settings did not change in it); stays on %s", name, p.Target, here)
			return nil
		}
		for i := range slices.Backward(vs) {
			if r := vs[i].Release(); r != "" && !retired[r] {
				to = &vs[i]
				break
			}
		}
		if to == nil {
			p.note("lambda %s: has no version of release %s nor of another release that is not rolled back; left on %s", name, p.Target, here)
			return nil
		}
		p.note("lambda %s: has no version of release %s; goes back to its newest version of a release not rolled back, version %d (%s)",
			name, p.Target, to.Number, releaseName(to.Release()))
	}
	if to.Number == alias.Version {
		p.note("lambda %s: alias %s is on %s already", name, Alias, here)
		return nil
	}
	p.Changes = append(p.Changes, Change{
		Kind: MoveAlias, Function: name,
		FromVersion: alias.Version, ToVersion: to.Number,
		FromRelease: curRelease, ToRelease: to.Release(),
		aliasRevision: alias.RevisionID,
	})
	return nil
}

// service plans the worker service's move.
func (p *Plan) service(ctx context.Context, tasks Tasks, families map[string][]TaskDefinition, retired map[string]bool) error {
	d := p.Deployment
	name := d.Cluster + "/" + d.WorkerService()
	cur, err := tasks.ServiceTaskDefinition(ctx, d.Cluster, d.WorkerService())
	if errors.Is(err, ErrNotFound) {
		p.note("ecs service %s: not found (the module makes it only with a worker_image); nothing to move", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ECS service %s: %w", name, err)
	}
	family, rev, ok := ParseTaskDefinition(cur)
	revs := families[family]
	if !ok || len(revs) == 0 {
		p.note("ecs service %s: runs %s, of no task definition family tagged %s=%s; left as it is", name, cur, TagDeployment, d.Prefix)
		return nil
	}
	curRelease := ""
	for _, td := range revs {
		if td.Revision == rev {
			curRelease = td.Release()
		}
	}
	var to *TaskDefinition
	for _, want := range []func(TaskDefinition) bool{
		func(td TaskDefinition) bool { return td.Release() == p.Target },
		func(td TaskDefinition) bool { return !retired[td.Release()] },
	} {
		for i := range slices.Backward(revs) {
			if want(revs[i]) {
				to = &revs[i]
				break
			}
		}
		if to != nil {
			break
		}
	}
	switch {
	case to == nil:
		p.note("ecs service %s: family %s has no ACTIVE revision of a release not rolled back; left on %s (%s)", name, family, shortName(cur), releaseName(curRelease))
	case to.Revision == rev:
		p.note("ecs service %s: runs %s (%s) already", name, to.Name(), releaseName(to.Release()))
	default:
		if to.Release() != p.Target {
			p.note("ecs service %s: family %s has no ACTIVE revision of release %s; goes to its newest revision of a release not rolled back", name, family, p.Target)
		}
		p.Changes = append(p.Changes, Change{
			Kind: UpdateService, Cluster: d.Cluster, Service: d.WorkerService(),
			FromTaskDefinition: cur, ToTaskDefinition: to.ARN,
			FromRelease: curRelease, ToRelease: to.Release(),
		})
	}
	return nil
}

// deregistrations plans the deregistration of the retired releases'
// revisions, in the families that keep another release's.
func (p *Plan) deregistrations(families map[string][]TaskDefinition, retired map[string]bool) {
	for _, family := range sortedKeys(families) {
		var drop []TaskDefinition
		keep := false
		for _, td := range families[family] {
			if retired[td.Release()] {
				drop = append(drop, td)
			} else {
				keep = true
			}
		}
		if len(drop) == 0 {
			continue
		}
		if !keep {
			p.note("ecs task definition family %s: has only revisions of %s; kept ACTIVE, as there is nothing to fall back to", family, strings.Join(releaseNames(drop), ", "))
			continue
		}
		for _, td := range drop {
			p.Changes = append(p.Changes, Change{Kind: Deregister, TaskDefinition: td.ARN, FromRelease: td.Release()})
		}
	}
}

func releaseNames(tds []TaskDefinition) []string {
	var out []string
	for _, td := range tds {
		if n := releaseName(td.Release()); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (p *Plan) note(format string, args ...any) {
	p.Notes = append(p.Notes, fmt.Sprintf(format, args...))
}

// scan returns the ACTIVE revisions tagged deployer:deployment=prefix, by
// family, lowest revision first.
func scan(ctx context.Context, tasks Tasks, prefix string) (map[string][]TaskDefinition, error) {
	arns, err := tasks.ActiveTaskDefinitions(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the ACTIVE ECS task definitions: %w", err)
	}
	var (
		mu  sync.Mutex
		out = map[string][]TaskDefinition{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(describeParallel)
	for _, arn := range arns {
		g.Go(func() error {
			td, err := tasks.DescribeTaskDefinition(gctx, arn)
			switch {
			case errors.Is(err, ErrNotFound):
				return nil // deregistered and deleted meanwhile
			case err != nil:
				return fmt.Errorf("describing ECS task definition %s: %w", arn, err)
			case !td.Active || td.Tags[TagDeployment] != prefix:
				return nil
			}
			mu.Lock()
			out[td.Family] = append(out[td.Family], td)
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, revs := range out {
		slices.SortFunc(revs, func(a, b TaskDefinition) int { return cmp.Compare(a.Revision, b.Revision) })
	}
	return out, nil
}
