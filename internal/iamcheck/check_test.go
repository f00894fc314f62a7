package iamcheck_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/iamcheck"
)

// fakeIAM answers the IAM and STS query protocol: GetCallerIdentity as
// the caller given, every other action with answer (an XML body and a
// status), recording the actions asked.
type fakeIAM struct {
	caller string
	answer func(action string, form url.Values) (int, string)
	asked  []string
}

func (f *fakeIAM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	action := r.Form.Get("Action")
	f.asked = append(f.asked, action)
	w.Header().Set("Content-Type", "text/xml")
	if action == "GetCallerIdentity" {
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>
<Arn>%s</Arn><UserId>AROAEXAMPLE:ci</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`, f.caller)
		return
	}
	status, body := f.answer(action, r.Form)
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func iamError(code, msg string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, msg)
}

func checker(t *testing.T, endpoint string, o iamcheck.Options) *iamcheck.Checker {
	t.Helper()
	c, err := iamcheck.New(awstest.Config(t, endpoint, nil), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Roles whose policies cannot be read are skipped, each with the IAM read
// permission that would let the check read them — never a failure.
func TestCheckAccessDenied(t *testing.T) {
	f := &fakeIAM{caller: "arn:aws:sts::123456789012:assumed-role/ci/session",
		answer: func(action string, form url.Values) (int, string) {
			return http.StatusForbidden, iamError("AccessDenied", "User is not authorized to perform: iam:"+action)
		}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	findings, err := checker(t, srv.URL, iamcheck.Options{Deployment: iamcheck.Deployment{Options: awsbackend.Options{Prefix: "d-"}}}).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var who []iamcheck.Principal
	for _, fd := range findings {
		who = append(who, fd.Principal)
		if fd.Status != iamcheck.StatusSkipped || fd.Failed() || !strings.Contains(fd.Message, "iam:GetRole was denied") ||
			!strings.Contains(fd.Message, "allow iam:GetRole, iam:ListRolePolicies, iam:GetRolePolicy") {
			t.Errorf("%+v, want a skipped finding naming the read permissions", fd)
		}
	}
	if !slices.Equal(who, iamcheck.Principals()) {
		t.Fatalf("findings for %v, want one per principal", who)
	}
	if fd := findings[0]; fd.Identity != "arn:aws:iam::123456789012:role/d-gatekeeper" {
		t.Errorf("identity %q", fd.Identity)
	}
	if fd := findings[3]; fd.Identity != "arn:aws:sts::123456789012:assumed-role/ci/session" {
		t.Errorf("the caller's identity %q", fd.Identity)
	}
}

// Policy documents come URL-encoded (RFC 3986, as IAM sends them); a
// role with a permissions boundary needs the boundary's allow too.
func TestCheckDecodesDocumentsAndBoundaries(t *testing.T) {
	d := iamcheck.Deployment{Account: "123456789012", Region: "us-east-1", Options: awsbackend.Options{Prefix: "d-"}}
	var workerRights []iamcheck.Right
	for _, r := range iamcheck.Required(d) {
		if r.Principal == iamcheck.Worker {
			workerRights = append(workerRights, r)
		}
	}
	doc := iamcheck.MinimalPolicy(workerRights).String()
	// The boundary allows everything but SQS.
	boundary := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"sqs:*","Resource":"*"}]}`
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	f := &fakeIAM{caller: "arn:aws:iam::123456789012:user/ci", answer: func(action string, form url.Values) (int, string) {
		switch action {
		case "GetRole":
			return 200, `<GetRoleResponse><GetRoleResult><Role><Arn>arn:aws:iam::123456789012:role/d-worker</Arn><RoleName>d-worker</RoleName>
<Path>/</Path><RoleId>AROA1</RoleId><CreateDate>2026-01-01T00:00:00Z</CreateDate>
<PermissionsBoundary><PermissionsBoundaryType>Policy</PermissionsBoundaryType><PermissionsBoundaryArn>arn:aws:iam::123456789012:policy/boundary</PermissionsBoundaryArn></PermissionsBoundary>
</Role></GetRoleResult></GetRoleResponse>`
		case "ListRolePolicies":
			return 200, `<ListRolePoliciesResponse><ListRolePoliciesResult><PolicyNames><member>deployer-worker</member></PolicyNames><IsTruncated>false</IsTruncated></ListRolePoliciesResult></ListRolePoliciesResponse>`
		case "GetRolePolicy":
			return 200, `<GetRolePolicyResponse><GetRolePolicyResult><RoleName>d-worker</RoleName><PolicyName>deployer-worker</PolicyName><PolicyDocument>` +
				esc(doc) + `</PolicyDocument></GetRolePolicyResult></GetRolePolicyResponse>`
		case "ListAttachedRolePolicies":
			return 200, `<ListAttachedRolePoliciesResponse><ListAttachedRolePoliciesResult><AttachedPolicies/><IsTruncated>false</IsTruncated></ListAttachedRolePoliciesResult></ListAttachedRolePoliciesResponse>`
		case "GetPolicy":
			return 200, `<GetPolicyResponse><GetPolicyResult><Policy><Arn>` + form.Get("PolicyArn") + `</Arn><DefaultVersionId>v2</DefaultVersionId></Policy></GetPolicyResult></GetPolicyResponse>`
		case "GetPolicyVersion":
			if form.Get("VersionId") != "v2" {
				return 404, iamError("NoSuchEntity", "no version "+form.Get("VersionId"))
			}
			return 200, `<GetPolicyVersionResponse><GetPolicyVersionResult><PolicyVersion><Document>` + esc(boundary) +
				`</Document><VersionId>v2</VersionId><IsDefaultVersion>true</IsDefaultVersion></PolicyVersion></GetPolicyVersionResult></GetPolicyVersionResponse>`
		}
		return 400, iamError("InvalidAction", action)
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	findings, err := checker(t, srv.URL, iamcheck.Options{Deployment: d, Principals: []iamcheck.Principal{iamcheck.Worker}}).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Every SQS right is cut by the boundary, nothing else.
	want := 0
	for _, r := range workerRights {
		if strings.HasPrefix(r.Action, "sqs:") {
			want++
		}
	}
	if len(findings) != want {
		t.Fatalf("%d findings, want %d (the worker's SQS rights):\n%s", len(findings), want, join(findings))
	}
	for _, fd := range findings {
		if !strings.HasPrefix(fd.Action, "sqs:") || fd.Status != iamcheck.StatusMissing ||
			!strings.Contains(fd.Message, "permissions boundary managed policy arn:aws:iam::123456789012:policy/boundary does not allow it") {
			t.Errorf("%s", fd)
		}
	}
	if slices.Contains(f.asked, "GetCallerIdentity") {
		t.Errorf("asked STS although the account was given and the caller not checked: %v", f.asked)
	}
}

func join(fs []iamcheck.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	return b.String()
}

// A check that cannot reach IAM, or whose call outlives its deadline,
// fails with an error rather than with findings.
func TestCheckUnreachableAndDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	_ = l.Close()
	_, err = checker(t, closed, iamcheck.Options{}).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "sts:GetCallerIdentity") {
		t.Fatalf("Check on a closed port: %v, want an error naming the call", err)
	}

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hang.Close()
	defer close(release)
	start := time.Now()
	_, err = checker(t, hang.URL, iamcheck.Options{CallTimeout: 200 * time.Millisecond,
		Deployment: iamcheck.Deployment{Account: "123456789012"}, Principals: []iamcheck.Principal{iamcheck.Worker}}).Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "iam:GetRole") || time.Since(start) > 20*time.Second {
		t.Fatalf("Check on a server that never answers: %v after %s, want the deadline's error naming iam:GetRole", err, time.Since(start))
	}
}

func TestOptionsValidate(t *testing.T) {
	_, err := iamcheck.New(aws.Config{}, iamcheck.Options{Roles: map[iamcheck.Principal]string{iamcheck.Caller: "x", "janitor": "y"},
		Principals: []iamcheck.Principal{"nobody"}, Caller: "ci", CallTimeout: -1})
	for _, says := range []string{`role of "caller"`, `role of "janitor"`, `principal "nobody"`, `caller "ci"`, "call timeout"} {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("New: %v, want it to say %q", err, says)
		}
	}
}

// --- Against an emulator (moto): real IAM API answers. ---------------------

// motoIAM returns an IAM client on the emulator, or skips.
func motoIAM(t *testing.T) (string, *iam.Client) {
	t.Helper()
	ep := awstest.Endpoint(t, "iam")
	return ep, iam.NewFromConfig(awstest.Config(t, ep, nil))
}

const lambdaTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// deployment creates, on the emulator, the roles of a deployment with
// the minimal policies of its rights: the gatekeeper's inline, the
// worker's half inline and half in an attached managed policy, the
// logshipper's attached, the caller's role's inline.
type deployment struct {
	prefix string
	d      iamcheck.Deployment
	client *iam.Client
	caller string // the caller role's ARN
	policy map[iamcheck.Principal]iamcheck.Policy
}

func newDeployment(t *testing.T, client *iam.Client) *deployment {
	t.Helper()
	ctx := context.Background()
	prefix := fmt.Sprintf("ic%d-", time.Now().UnixNano()%1_000_000_000)
	dep := &deployment{prefix: prefix, client: client, policy: map[iamcheck.Principal]iamcheck.Policy{},
		d: iamcheck.Deployment{Region: "us-east-1", Options: awsbackend.Options{Prefix: prefix}}}
	// The account is moto's.
	id, err := sts.NewFromConfig(awstest.Config(t, awstest.Endpoint(t, "iam"), nil)).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	dep.d.Account = aws.ToString(id.Account)
	rights := map[iamcheck.Principal][]iamcheck.Right{}
	for _, r := range iamcheck.Required(dep.d) {
		if !r.Operator {
			rights[r.Principal] = append(rights[r.Principal], r)
		}
	}
	for _, p := range iamcheck.Principals() {
		name := prefix + string(p)
		if p == iamcheck.Caller {
			name = prefix + "ci"
		}
		role, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(lambdaTrust)})
		if err != nil {
			t.Fatal(err)
		}
		if p == iamcheck.Caller {
			dep.caller = aws.ToString(role.Role.Arn)
		}
		all := rights[p]
		var inline, attached []iamcheck.Right
		switch p {
		case iamcheck.Gatekeeper, iamcheck.Caller:
			inline = all
		case iamcheck.Worker:
			inline, attached = all[:len(all)/2], all[len(all)/2:]
		case iamcheck.Logshipper:
			attached = all
		}
		if len(inline) > 0 {
			dep.putInline(t, name, "deployer-"+string(p), iamcheck.MinimalPolicy(inline))
		}
		if len(attached) > 0 {
			pol, err := client.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(name + "-managed"),
				PolicyDocument: aws.String(iamcheck.MinimalPolicy(attached).String())})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := client.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String(name), PolicyArn: pol.Policy.Arn}); err != nil {
				t.Fatal(err)
			}
		}
		dep.policy[p] = iamcheck.MinimalPolicy(inline)
	}
	return dep
}

func (dep *deployment) putInline(t *testing.T, role, name string, p iamcheck.Policy) {
	t.Helper()
	if _, err := dep.client.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String(role),
		PolicyName: aws.String(name), PolicyDocument: aws.String(p.String())}); err != nil {
		t.Fatal(err)
	}
}

func (dep *deployment) check(t *testing.T, ep string, o iamcheck.Options) []iamcheck.Finding {
	t.Helper()
	o.Deployment = dep.d
	if o.Caller == "" {
		o.Caller = dep.caller
	}
	findings, err := checker(t, ep, o).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return findings
}

// A complete set of policies passes; one statement less is exactly that
// finding; a Deny statement is a finding; a missing role is reported.
func TestCheckOnMoto(t *testing.T) {
	ep, client := motoIAM(t)
	dep := newDeployment(t, client)

	if fs := dep.check(t, ep, iamcheck.Options{}); len(fs) != 0 {
		t.Fatalf("a complete set of policies: findings\n%s", join(fs))
	}

	t.Run("one statement removed", func(t *testing.T) {
		// The gatekeeper's inline policy without its right to forward run
		// orders to the lanes.
		p := dep.policy[iamcheck.Gatekeeper]
		lanes := "arn:aws:sqs:us-east-1:" + dep.d.Account + ":" + dep.prefix + "runs-lane-*"
		cut := iamcheck.Policy{Version: p.Version}
		for _, st := range p.Statements {
			if slices.Contains(st.Resources, lanes) {
				st.Actions = slices.DeleteFunc(slices.Clone(st.Actions), func(a string) bool { return a == "sqs:SendMessage" })
				if len(st.Actions) == 0 {
					continue
				}
			}
			cut.Statements = append(cut.Statements, st)
		}
		dep.putInline(t, dep.prefix+"gatekeeper", "deployer-gatekeeper", cut)
		defer dep.putInline(t, dep.prefix+"gatekeeper", "deployer-gatekeeper", p)
		fs := dep.check(t, ep, iamcheck.Options{})
		if len(fs) != 1 {
			t.Fatalf("findings:\n%s\nwant exactly the gatekeeper's sqs:SendMessage on the lanes", join(fs))
		}
		f := fs[0]
		if f.Principal != iamcheck.Gatekeeper || f.Action != "sqs:SendMessage" || f.Resource != lanes || f.Status != iamcheck.StatusMissing ||
			!f.Failed() || f.Identity != "arn:aws:iam::"+dep.d.Account+":role/"+dep.prefix+"gatekeeper" ||
			!strings.Contains(f.Why, "forwards run orders") || !strings.Contains(f.Message, "no statement allows it") {
			t.Fatalf("%+v", f)
		}
		t.Logf("reported: %s", f)
	})

	t.Run("a deny statement", func(t *testing.T) {
		deny := iamcheck.Policy{Statements: []iamcheck.Statement{{Sid: "NoStreams", Effect: iamcheck.Deny,
			Actions: []string{"sqs:SendMessage"}, Resources: []string{"arn:aws:sqs:*:*:" + dep.prefix + "job-*"}}}}
		dep.putInline(t, dep.prefix+"logshipper", "guard", deny)
		defer func() {
			if _, err := client.DeleteRolePolicy(context.Background(), &iam.DeleteRolePolicyInput{
				RoleName: aws.String(dep.prefix + "logshipper"), PolicyName: aws.String("guard")}); err != nil {
				t.Fatal(err)
			}
		}()
		fs := dep.check(t, ep, iamcheck.Options{Principals: []iamcheck.Principal{iamcheck.Logshipper}})
		if len(fs) != 1 || fs[0].Action != "sqs:SendMessage" || fs[0].Status != iamcheck.StatusMissing ||
			!strings.Contains(fs[0].Message, `denied by statement "NoStreams" of inline policy guard of role `+dep.prefix+"logshipper") {
			t.Fatalf("findings:\n%s\nwant the logshipper's sqs:SendMessage, denied by NoStreams", join(fs))
		}
		t.Logf("reported: %s", fs[0])
	})

	t.Run("a missing role", func(t *testing.T) {
		fs := dep.check(t, ep, iamcheck.Options{Roles: map[iamcheck.Principal]string{iamcheck.Worker: dep.prefix + "gone"},
			Principals: []iamcheck.Principal{iamcheck.Worker}})
		if len(fs) != 1 || fs[0].Status != iamcheck.StatusMissing || fs[0].Action != "" ||
			!strings.Contains(fs[0].Message, "role "+dep.prefix+"gone does not exist") {
			t.Fatalf("findings:\n%s\nwant one: the role does not exist", join(fs))
		}
		t.Logf("reported: %s", fs[0])
	})

	t.Run("caller lacking an optional right", func(t *testing.T) {
		p := dep.policy[iamcheck.Caller]
		cut := iamcheck.Policy{Version: p.Version}
		for _, st := range p.Statements {
			if !slices.Contains(st.Actions, "dynamodb:Query") {
				cut.Statements = append(cut.Statements, st)
			}
		}
		dep.putInline(t, dep.prefix+"ci", "deployer-caller", cut)
		defer dep.putInline(t, dep.prefix+"ci", "deployer-caller", p)
		fs := dep.check(t, ep, iamcheck.Options{Principals: []iamcheck.Principal{iamcheck.Caller}})
		if len(fs) != 1 || fs[0].Status != iamcheck.StatusLimited || fs[0].Failed() || fs[0].Action != "dynamodb:Query" {
			t.Fatalf("findings:\n%s\nwant one, limited: dynamodb:Query", join(fs))
		}
		// Operator rights are checked only when asked for.
		fs = dep.check(t, ep, iamcheck.Options{Principals: []iamcheck.Principal{iamcheck.Caller}, Operator: true})
		// Five actions on each dead-letter queue (every caller may look
		// them up: doctor does).
		if len(fs) != 11 {
			t.Fatalf("with Operator: %d findings, want the query and the 10 dead-letter rights:\n%s", len(fs), join(fs))
		}
	})
}

// The caller is whoever runs the check: an assumed role's role, or a
// user with the rights through a group. An identity IAM does not know
// (the emulator's default) is skipped, never missing.
func TestCheckCallerOnMoto(t *testing.T) {
	ep, client := motoIAM(t)
	dep := newDeployment(t, client)
	ctx := context.Background()
	only := []iamcheck.Principal{iamcheck.Caller}

	// Whoever the emulator's default identity is, it is not a user IAM
	// knows: skipped.
	fs, err := checker(t, ep, iamcheck.Options{Deployment: dep.d, Principals: only}).Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Status != iamcheck.StatusSkipped || fs[0].Failed() {
		t.Fatalf("the emulator's default identity: %s", join(fs))
	}
	t.Logf("reported: %s", fs[0])

	// An assumed role.
	out, err := sts.NewFromConfig(awstest.Config(t, ep, nil)).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String(dep.caller), RoleSessionName: aws.String("ci-run")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := awstest.Config(t, ep, nil)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId),
		aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken))
	c, err := iamcheck.New(cfg, iamcheck.Options{Deployment: dep.d, Principals: only})
	if err != nil {
		t.Fatal(err)
	}
	fs, err = c.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Fatalf("the caller's assumed role holds every right, yet:\n%s", join(fs))
	}
	// The same role, its policy emptied of the right to enqueue.
	p := dep.policy[iamcheck.Caller]
	cut := iamcheck.Policy{Version: p.Version}
	for _, st := range p.Statements {
		if !strings.HasSuffix(st.Resources[0], ":"+dep.prefix+"requests") {
			cut.Statements = append(cut.Statements, st)
		}
	}
	dep.putInline(t, dep.prefix+"ci", "deployer-caller", cut)
	if fs, err = c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 || fs[0].Action != "sqs:GetQueueUrl" || fs[1].Action != "sqs:SendMessage" || !fs[1].Failed() {
		t.Fatalf("findings:\n%s\nwant the caller's sqs:GetQueueUrl and sqs:SendMessage on the request queue", join(fs))
	}

	// A user whose rights come from a group.
	user := dep.prefix + "person"
	if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateGroup(ctx, &iam.CreateGroupInput{GroupName: aws.String(user + "s")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String(user), GroupName: aws.String(user + "s")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutGroupPolicy(ctx, &iam.PutGroupPolicyInput{GroupName: aws.String(user + "s"), PolicyName: aws.String("deployer-caller"),
		PolicyDocument: aws.String(p.String())}); err != nil {
		t.Fatal(err)
	}
	userARN := "arn:aws:iam::" + dep.d.Account + ":user/" + user
	if fs := dep.check(t, ep, iamcheck.Options{Caller: userARN, Principals: only}); len(fs) != 0 {
		t.Fatalf("a user with the caller policy through a group:\n%s", join(fs))
	}
	if _, err := client.DeleteGroupPolicy(ctx, &iam.DeleteGroupPolicyInput{GroupName: aws.String(user + "s"), PolicyName: aws.String("deployer-caller")}); err != nil {
		t.Fatal(err)
	}
	fs = dep.check(t, ep, iamcheck.Options{Caller: userARN, Principals: only})
	if len(fs) == 0 || !strings.Contains(fs[0].Message, "user "+userARN+" lacks") {
		t.Fatalf("a user without the policy:\n%s", join(fs))
	}
}
