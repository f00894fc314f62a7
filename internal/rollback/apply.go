package rollback

import (
	"context"
	"errors"
	"fmt"
)

// ApplyError is a change of a plan that failed. The changes before it
// were made; the ones after it were not. A plan made again (MakePlan)
// leaves out what is done, so running the rollback again finishes it.
type ApplyError struct {
	// Change is the change that failed.
	Change Change
	// Done is how many changes were made before it, of Total.
	Done, Total int
	// Err is why it failed.
	Err error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("%s: %v (%d of %d changes were made before it)", e.Change.Line(true), e.Err, e.Done, e.Total)
}

// Unwrap returns why the change failed.
func (e *ApplyError) Unwrap() error { return e.Err }

// Apply makes the plan's changes in order, calling done after each one.
// It stops at the first that fails, with an *ApplyError.
func Apply(ctx context.Context, p Ports, plan *Plan, done func(Change)) error {
	for i, c := range plan.Changes {
		if err := applyOne(ctx, p, plan, c); err != nil {
			return &ApplyError{Change: c, Done: i, Total: len(plan.Changes), Err: err}
		}
		if done != nil {
			done(c)
		}
	}
	return nil
}

func applyOne(ctx context.Context, p Ports, plan *Plan, c Change) error {
	switch c.Kind {
	case MoveAlias:
		err := p.Functions.UpdateAlias(ctx, c.Function, Alias, AliasUpdate{
			Version:     c.ToVersion,
			Description: aliasDescription(c.FromRelease, c.ToRelease),
			RevisionID:  c.aliasRevision,
		})
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("alias %s changed since the plan was made (a Terraform apply, another rollback?): run the rollback again to plan from where it is now: %w", Alias, err)
		}
		return err
	case UpdateService:
		return p.Tasks.UpdateService(ctx, c.Cluster, c.Service, c.ToTaskDefinition)
	case Deregister:
		return p.Tasks.DeregisterTaskDefinition(ctx, c.TaskDefinition)
	}
	return fmt.Errorf("plan for release %s: unknown change kind %d", plan.Target, c.Kind)
}
