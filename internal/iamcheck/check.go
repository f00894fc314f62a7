package iamcheck

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/deployerhq/deployer/internal/awsx"
)

// Status is what a finding says about a right.
type Status string

// The statuses of a finding.
const (
	// StatusMissing: the principal lacks a right it needs (no statement
	// allows it, a Deny statement denies it, or its role does not exist).
	// The check fails.
	StatusMissing Status = "missing"
	// StatusLimited: the principal lacks an optional right; the command
	// named in Why fails, the rest works. Not a failure of the check.
	StatusLimited Status = "limited"
	// StatusSkipped: the check could not tell (the policies could not be
	// read, or a statement depends on a condition it cannot evaluate).
	// Never a failure by itself.
	StatusSkipped Status = "skipped"
)

// Finding is one thing the check found: a right a principal lacks, or a
// principal or right it could not check. Action, Resource and Why are
// empty when the finding is about the whole principal (a missing role,
// unreadable policies).
type Finding struct {
	Principal Principal
	// Identity is the ARN of the role or user whose policies were read.
	Identity string
	Action   string
	Resource string
	Why      string
	Status   Status
	// Message says what is wrong and how to fix it, in one sentence.
	Message string
}

// Failed reports whether the finding fails the check: a missing right.
func (f Finding) Failed() bool { return f.Status == StatusMissing }

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Principal, f.Status, f.Message) }

// DefaultCallTimeout bounds each IAM and STS call unless
// Options.CallTimeout says otherwise.
const DefaultCallTimeout = 10 * time.Second

// Options configure a Checker.
type Options struct {
	// Deployment names the deployment's resources. Its Account, when
	// empty, and its Partition, when empty, are those of the calling
	// identity (sts:GetCallerIdentity); its Region defaults to the AWS
	// configuration's.
	Deployment Deployment
	// Roles names the IAM role (a name or an ARN) of the gatekeeper, the
	// worker and the logshipper. Each defaults to Prefix + its principal
	// ("deployer-worker"), as terraform/modules/deployer names them.
	Roles map[Principal]string
	// Caller is the ARN of the identity to check as the caller: an IAM
	// role or user, or an STS assumed-role session. Defaults to the
	// identity sts:GetCallerIdentity returns: whoever runs the check.
	Caller string
	// Principals limits the check to these principals. Defaults to all.
	Principals []Principal
	// Operator also checks the caller's operator rights (the dlq
	// commands').
	Operator bool
	// CallTimeout bounds each IAM and STS call. Defaults to
	// DefaultCallTimeout.
	CallTimeout time.Duration
}

// Validate reports every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	for p := range o.Roles {
		if p == Caller || !slices.Contains(Principals(), p) {
			errs = append(errs, fmt.Errorf("role of %q: want one of gatekeeper, worker, logshipper", p))
		}
	}
	for _, p := range o.Principals {
		if !slices.Contains(Principals(), p) {
			errs = append(errs, fmt.Errorf("principal %q: want gatekeeper, worker, logshipper or caller", p))
		}
	}
	if o.Caller != "" && !strings.HasPrefix(o.Caller, "arn:") {
		errs = append(errs, fmt.Errorf("caller %q: want an IAM role, user or assumed-role ARN", o.Caller))
	}
	if o.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("call timeout %s: want a positive duration", o.CallTimeout))
	}
	return errors.Join(errs...)
}

// Checker reads the IAM policies of a deployment's principals and
// reports the rights they lack. It is static: it reads policies, it
// makes none of the calls it checks, so it also works where IAM is not
// enforced (emulators) and before anything fails for real. It reads the
// principals' identity policies (inline, attached managed, and a user's
// groups') and permissions boundaries; service control policies, session
// policies and resource policies are outside what it can see.
type Checker struct {
	iam     *iam.Client
	sts     *sts.Client
	opts    Options
	timeout time.Duration
	region  string
}

// New returns a Checker calling IAM and STS with cfg (AWS_ENDPOINT_URL
// and the per-service endpoint variables apply).
func New(cfg aws.Config, o Options) (*Checker, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("permission check: %w", err)
	}
	c := &Checker{iam: iam.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg), opts: o, timeout: o.CallTimeout, region: cfg.Region}
	if c.timeout == 0 {
		c.timeout = DefaultCallTimeout
	}
	if len(c.opts.Principals) == 0 {
		c.opts.Principals = Principals()
	}
	return c, nil
}

// Check reads the principals' policies and returns what it found, in the
// order of Principals and, within a principal, of Required: nothing when
// every principal holds every right it needs. A principal whose role
// does not exist is a missing finding; one whose policies cannot be
// read (access denied), a skipped one. The error is for a check that
// could not run at all: invalid options, IAM or STS unreachable, a call
// past its deadline, ctx done.
func (c *Checker) Check(ctx context.Context) ([]Finding, error) {
	d := c.opts.Deployment
	if d.Region == "" && d.Options.Region == "" {
		d.Region = c.region
	}
	callerARN := c.opts.Caller
	wantCaller := slices.Contains(c.opts.Principals, Caller)
	if d.Account == "" || (wantCaller && callerARN == "") {
		var out *sts.GetCallerIdentityOutput
		err := c.call(ctx, "sts:GetCallerIdentity", "", func(ctx context.Context) (err error) {
			out, err = c.sts.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("checking permissions: %w", err)
		}
		if d.Account == "" {
			d.Account = aws.ToString(out.Account)
		}
		if callerARN == "" {
			callerARN = aws.ToString(out.Arn)
		}
		if d.Partition == "" {
			if a, ok := parseARN(aws.ToString(out.Arn)); ok {
				d.Partition = a.partition
			}
		}
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("checking permissions: %w", err)
	}
	d = d.WithDefaults()
	rights := Required(d)
	s := &session{Checker: c, d: d, managed: map[string]Policy{}}
	var findings []Finding
	for _, p := range c.opts.Principals {
		var (
			id  identity
			f   *Finding
			err error
		)
		if p == Caller {
			id, f, err = s.caller(ctx, callerARN)
		} else {
			id, f, err = s.role(ctx, p, c.roleName(p, d))
		}
		if err != nil {
			return nil, fmt.Errorf("checking the permissions of the %s: %w", p, err)
		}
		if f != nil {
			findings = append(findings, *f)
			continue
		}
		for _, r := range rights {
			if r.Principal != p || (r.Operator && !c.opts.Operator) {
				continue
			}
			if f := id.check(r); f != nil {
				findings = append(findings, *f)
			}
		}
	}
	return findings, nil
}

// roleName is the IAM role name of a deployment principal.
func (c *Checker) roleName(p Principal, d Deployment) string {
	name := c.opts.Roles[p]
	if name == "" {
		return d.Options.Prefix + string(p)
	}
	if a, ok := parseARN(name); ok {
		return a.name()
	}
	return name
}

// callError is a failed IAM or STS call: which action, on what.
type callError struct {
	action, on string
	err        error
}

func (e *callError) Error() string {
	if e.on == "" {
		return fmt.Sprintf("%s: %v", e.action, e.err)
	}
	return fmt.Sprintf("%s on %s: %v", e.action, e.on, e.err)
}

func (e *callError) Unwrap() error { return e.err }

// call runs one AWS call under the call timeout.
func (c *Checker) call(ctx context.Context, action, on string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := f(ctx); err != nil {
		return &callError{action: action, on: on, err: err}
	}
	return nil
}

// identity is a role or user with its policies, ready to check rights
// against.
type identity struct {
	principal Principal
	arn, kind string // "role" or "user"
	policies  []Policy
	boundary  *Policy
}

// check returns the finding of right r, or nil when the identity holds
// it.
func (id identity) check(r Right) *Finding {
	req := r.Request()
	res := Evaluate(req, id.policies...)
	if res.Decision == Allowed && id.boundary != nil {
		if b := Evaluate(req, *id.boundary); b.Decision != Allowed {
			res = b
			res.Reason = "its permissions boundary " + id.boundary.Name + " does not allow it (" + b.Reason + ")"
		}
	}
	f := &Finding{Principal: id.principal, Identity: id.arn, Action: r.Action, Resource: r.Resource, Why: r.Why}
	switch res.Decision {
	case Allowed:
		return nil
	case Undecided:
		f.Status = StatusSkipped
		f.Message = fmt.Sprintf("cannot tell whether %s %s may %s on %s (%s): %s", id.kind, id.arn, r.Action, r.Resource, r.Why, res.Reason)
	default:
		f.Status = StatusMissing
		if r.Optional {
			f.Status = StatusLimited
		}
		f.Message = fmt.Sprintf("%s %s lacks %s on %s (%s): %s", id.kind, id.arn, r.Action, r.Resource, r.Why, res.Reason)
		if res.Decision == ImplicitDeny {
			f.Message += "; grant it in the " + id.kind + "'s policy"
		}
	}
	return f
}

// session is one run of Check: the deployment and the managed policies
// read so far.
type session struct {
	*Checker
	d       Deployment
	managed map[string]Policy
}

func (s *session) iamARN(kind, name string) string {
	return fmt.Sprintf("arn:%s:iam::%s:%s/%s", s.d.Partition, s.d.Account, kind, name)
}

// role reads a deployment principal's role. A role that does not exist
// is a missing finding; one that cannot be read, a skipped one.
func (s *session) role(ctx context.Context, p Principal, name string) (identity, *Finding, error) {
	id, err := s.readRole(ctx, p, name)
	if err == nil {
		return id, nil, nil
	}
	arn := s.iamARN("role", name)
	var ce *callError
	if errors.As(err, &ce) && ce.action == "iam:GetRole" && awsx.HasCode(err, "NoSuchEntity") {
		return identity{}, &Finding{Principal: p, Identity: arn, Status: StatusMissing,
			Message: fmt.Sprintf("role %s does not exist in account %s: the %s runs under it (apply terraform/modules/deployer with prefix %q, or name the role the %s uses)",
				name, s.d.Account, p, s.d.Options.Prefix, p)}, nil
	}
	return s.unreadable(p, arn, "role", err)
}

// caller reads the policies of the identity with ARN arn: an assumed
// role's role, a role, or a user. Whatever prevents reading them is a
// skipped finding, never a missing one: the caller exists (it called).
func (s *session) caller(ctx context.Context, arn string) (identity, *Finding, error) {
	skip := func(msg string) (identity, *Finding, error) {
		return identity{}, &Finding{Principal: Caller, Identity: arn, Status: StatusSkipped, Message: msg}, nil
	}
	a, ok := parseARN(arn)
	if !ok {
		return skip(fmt.Sprintf("cannot check the caller %q: not an ARN", arn))
	}
	var (
		id   identity
		err  error
		kind string
	)
	switch {
	case a.resource == "root":
		return skip(fmt.Sprintf("the caller %s is the account's root user: no IAM policy limits it", arn))
	case a.service == "sts" && strings.HasPrefix(a.resource, "assumed-role/"), a.service == "iam" && strings.HasPrefix(a.resource, "role/"):
		kind = "role"
		id, err = s.readRole(ctx, Caller, a.name())
	case strings.HasPrefix(a.resource, "user/"):
		kind = "user"
		id, err = s.readUser(ctx, a.name())
	default:
		return skip(fmt.Sprintf("cannot check the caller %s: only IAM roles (assumed or not) and users have policies this check reads", arn))
	}
	if err == nil {
		return id, nil, nil
	}
	var ce *callError
	if errors.As(err, &ce) && (ce.action == "iam:GetRole" || ce.action == "iam:GetUser") && awsx.HasCode(err, "NoSuchEntity") {
		return skip(fmt.Sprintf("cannot check the caller %s: IAM knows no %s %s in account %s (%v)", arn, kind, a.name(), a.account, err))
	}
	return s.unreadable(Caller, arn, kind, err)
}

// readPermissions are what the identity running the check needs to read
// a role's or a user's policies.
var readPermissions = map[string]string{
	"role": "iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy, iam:ListAttachedRolePolicies, iam:GetPolicy and iam:GetPolicyVersion",
	"user": "iam:GetUser, iam:ListUserPolicies, iam:GetUserPolicy, iam:ListAttachedUserPolicies, iam:ListGroupsForUser, iam:ListGroupPolicies, iam:GetGroupPolicy, iam:ListAttachedGroupPolicies, iam:GetPolicy and iam:GetPolicyVersion",
}

// unreadable turns a failure to read an identity's policies into a
// skipped finding, or into the error when IAM could not be asked at all.
func (s *session) unreadable(p Principal, arn, kind string, err error) (identity, *Finding, error) {
	var de *documentError
	if awsx.Code(err) == "" && !errors.As(err, &de) {
		return identity{}, nil, err // no answer: unreachable, deadline, ctx done
	}
	f := &Finding{Principal: p, Identity: arn, Status: StatusSkipped}
	var ce *callError
	if awsx.HasCode(err, "AccessDenied", "AccessDeniedException") && errors.As(err, &ce) {
		f.Message = fmt.Sprintf("cannot read the policies of %s %s: %s was denied; allow %s on it (and on the policies attached to it) for this check",
			kind, arn, ce.action, readPermissions[kind])
		return identity{}, f, nil
	}
	f.Message = fmt.Sprintf("cannot read the policies of %s %s: %v", kind, arn, err)
	return identity{}, f, nil
}

func (s *session) readRole(ctx context.Context, p Principal, name string) (identity, error) {
	id := identity{principal: p, kind: "role"}
	var role *iam.GetRoleOutput
	err := s.call(ctx, "iam:GetRole", name, func(ctx context.Context) (err error) {
		role, err = s.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
		return err
	})
	if err != nil {
		return id, err
	}
	id.arn = aws.ToString(role.Role.Arn)
	if id.boundary, err = s.boundary(ctx, role.Role.PermissionsBoundary); err != nil {
		return id, err
	}
	pols, err := s.policies(ctx, policyHolder{
		kind: "role", name: name,
		inline: pages(iam.NewListRolePoliciesPaginator(s.iam, &iam.ListRolePoliciesInput{RoleName: aws.String(name)}),
			"iam:ListRolePolicies", func(o *iam.ListRolePoliciesOutput) []string { return o.PolicyNames }),
		getInline: "iam:GetRolePolicy",
		get: func(ctx context.Context, policy string) (*string, error) {
			out, err := s.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
		attached: pages(iam.NewListAttachedRolePoliciesPaginator(s.iam, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)}),
			"iam:ListAttachedRolePolicies", func(o *iam.ListAttachedRolePoliciesOutput) []string { return policyARNs(o.AttachedPolicies) }),
	})
	id.policies = pols
	return id, err
}

func (s *session) readUser(ctx context.Context, name string) (identity, error) {
	id := identity{principal: Caller, kind: "user"}
	var user *iam.GetUserOutput
	err := s.call(ctx, "iam:GetUser", name, func(ctx context.Context) (err error) {
		user, err = s.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
		return err
	})
	if err != nil {
		return id, err
	}
	id.arn = aws.ToString(user.User.Arn)
	if id.boundary, err = s.boundary(ctx, user.User.PermissionsBoundary); err != nil {
		return id, err
	}
	pols, err := s.policies(ctx, policyHolder{
		kind: "user", name: name,
		inline: pages(iam.NewListUserPoliciesPaginator(s.iam, &iam.ListUserPoliciesInput{UserName: aws.String(name)}),
			"iam:ListUserPolicies", func(o *iam.ListUserPoliciesOutput) []string { return o.PolicyNames }),
		getInline: "iam:GetUserPolicy",
		get: func(ctx context.Context, policy string) (*string, error) {
			out, err := s.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
		attached: pages(iam.NewListAttachedUserPoliciesPaginator(s.iam, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(name)}),
			"iam:ListAttachedUserPolicies", func(o *iam.ListAttachedUserPoliciesOutput) []string { return policyARNs(o.AttachedPolicies) }),
	})
	if err != nil {
		return id, err
	}
	id.policies = pols
	groups := pages(iam.NewListGroupsForUserPaginator(s.iam, &iam.ListGroupsForUserInput{UserName: aws.String(name)}),
		"iam:ListGroupsForUser", func(o *iam.ListGroupsForUserOutput) []string {
			names := make([]string, len(o.Groups))
			for i, g := range o.Groups {
				names[i] = aws.ToString(g.GroupName)
			}
			return names
		})
	err = s.eachPage(ctx, name, groups, func(group string) error {
		pols, err := s.groupPolicies(ctx, group)
		id.policies = append(id.policies, pols...)
		return err
	})
	return id, err
}

// boundary reads the permissions boundary b of a role or user; nil when
// it has none.
func (s *session) boundary(ctx context.Context, b *types.AttachedPermissionsBoundary) (*Policy, error) {
	if b == nil || aws.ToString(b.PermissionsBoundaryArn) == "" {
		return nil, nil
	}
	pol, err := s.managedPolicy(ctx, aws.ToString(b.PermissionsBoundaryArn))
	if err != nil {
		return nil, err
	}
	return &pol, nil
}

// groupPolicies reads a group's inline and attached policies.
func (s *session) groupPolicies(ctx context.Context, group string) ([]Policy, error) {
	return s.policies(ctx, policyHolder{
		kind: "group", name: group,
		inline: pages(iam.NewListGroupPoliciesPaginator(s.iam, &iam.ListGroupPoliciesInput{GroupName: aws.String(group)}),
			"iam:ListGroupPolicies", func(o *iam.ListGroupPoliciesOutput) []string { return o.PolicyNames }),
		getInline: "iam:GetGroupPolicy",
		get: func(ctx context.Context, policy string) (*string, error) {
			out, err := s.iam.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: aws.String(group), PolicyName: aws.String(policy)})
			if err != nil {
				return nil, err
			}
			return out.PolicyDocument, nil
		},
		attached: pages(iam.NewListAttachedGroupPoliciesPaginator(s.iam, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String(group)}),
			"iam:ListAttachedGroupPolicies", func(o *iam.ListAttachedGroupPoliciesOutput) []string { return policyARNs(o.AttachedPolicies) }),
	})
}

// policyHolder is a role, a user or a group, and the IAM calls that read
// the policies it holds itself: its inline policies and the managed
// policies attached to it.
type policyHolder struct {
	kind, name string // "role", "user" or "group", and its name
	// inline lists the names of its inline policies.
	inline lister
	// get reads the document of its inline policy named policy, as the
	// IAM action getInline (iam:GetRolePolicy).
	getInline string
	get       func(ctx context.Context, policy string) (*string, error)
	// attached lists the ARNs of the managed policies attached to it.
	attached lister
}

// policies reads the inline and attached policies of h; each failing
// call is a *callError naming its IAM action and h, each unreadable
// document a *documentError naming the policy.
func (s *session) policies(ctx context.Context, h policyHolder) ([]Policy, error) {
	var pols []Policy
	err := s.eachPage(ctx, h.name, h.inline, func(pn string) error {
		var doc *string
		if err := s.call(ctx, h.getInline, h.name, func(ctx context.Context) (err error) {
			doc, err = h.get(ctx, pn)
			return err
		}); err != nil {
			return err
		}
		pol, err := parseDocument(aws.ToString(doc), fmt.Sprintf("inline policy %s of %s %s", pn, h.kind, h.name))
		if err != nil {
			return err
		}
		pols = append(pols, pol)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.eachPage(ctx, h.name, h.attached, func(arn string) error {
		pol, err := s.managedPolicy(ctx, arn)
		if err != nil {
			return err
		}
		pols = append(pols, pol)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return pols, nil
}

// lister reads a listing page by page as one IAM action.
type lister struct {
	action string // iam:ListRolePolicies
	more   func() bool
	next   func(ctx context.Context) ([]string, error)
}

// paginator is the SDK's paginator of a listing whose pages are O
// (iam.ListRolePoliciesPaginator and its kin).
type paginator[O any] interface {
	HasMorePages() bool
	NextPage(ctx context.Context, optFns ...func(*iam.Options)) (O, error)
}

// pages makes a lister of p: action names its call, items picks what a
// page lists.
func pages[O any](p paginator[O], action string, items func(O) []string) lister {
	return lister{action: action, more: p.HasMorePages, next: func(ctx context.Context) ([]string, error) {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		return items(page), nil
	}}
}

// policyARNs are the ARNs of a page of attached managed policies.
func policyARNs(ap []types.AttachedPolicy) []string {
	arns := make([]string, len(ap))
	for i, a := range ap {
		arns[i] = aws.ToString(a.PolicyArn)
	}
	return arns
}

// eachPage reads every page of l, each page under the call timeout as a
// call on on, and hands fn each item in turn; it stops at the first
// error.
func (s *session) eachPage(ctx context.Context, on string, l lister, fn func(string) error) error {
	for l.more() {
		var items []string
		if err := s.call(ctx, l.action, on, func(ctx context.Context) (err error) {
			items, err = l.next(ctx)
			return err
		}); err != nil {
			return err
		}
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// managedPolicy reads the default version of a managed policy, once per
// Check.
func (s *session) managedPolicy(ctx context.Context, arn string) (Policy, error) {
	if p, ok := s.managed[arn]; ok {
		return p, nil
	}
	var pol *iam.GetPolicyOutput
	if err := s.call(ctx, "iam:GetPolicy", arn, func(ctx context.Context) (err error) {
		pol, err = s.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
		return err
	}); err != nil {
		return Policy{}, err
	}
	var ver *iam.GetPolicyVersionOutput
	if err := s.call(ctx, "iam:GetPolicyVersion", arn, func(ctx context.Context) (err error) {
		ver, err = s.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: pol.Policy.DefaultVersionId})
		return err
	}); err != nil {
		return Policy{}, err
	}
	if ver.PolicyVersion == nil {
		return Policy{}, &callError{action: "iam:GetPolicyVersion", on: arn, err: errors.New("no policy version in the answer")}
	}
	p, err := parseDocument(aws.ToString(ver.PolicyVersion.Document), "managed policy "+arn)
	if err != nil {
		return Policy{}, err
	}
	s.managed[arn] = p
	return p, nil
}

// documentError is a policy document that could not be read. It counts
// as an answer (the policy is there, this check cannot use it).
type documentError struct {
	name string
	err  error
}

func (e *documentError) Error() string { return fmt.Sprintf("%s: %v", e.name, e.err) }
func (e *documentError) Unwrap() error { return e.err }

// parseDocument decodes a policy document as IAM returns it (URL-encoded,
// RFC 3986) and parses it.
func parseDocument(doc, name string) (Policy, error) {
	raw := strings.TrimSpace(doc)
	if !strings.HasPrefix(raw, "{") {
		dec, err := url.QueryUnescape(raw)
		if err != nil {
			return Policy{}, &documentError{name: name, err: fmt.Errorf("URL-decoding the document: %w", err)}
		}
		raw = dec
	}
	p, err := Parse([]byte(raw))
	if err != nil {
		return Policy{}, &documentError{name: name, err: err}
	}
	p.Name = name
	return p, nil
}
