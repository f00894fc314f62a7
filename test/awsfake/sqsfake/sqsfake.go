package sqsfake

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/test/awsfake"
)

// Defaults of Options.
const (
	DefaultAccount = "123456789012"
	DefaultRegion  = "us-east-1"
	// DefaultPollInterval is how often a long poll looks for messages sent
	// by another sender's broker (sends through the same broker wake it at
	// once).
	DefaultPollInterval = 50 * time.Millisecond
)

// Options configure a Fake. The zero value is ready to use.
type Options struct {
	// Account is the account id in queue URLs and ARNs. Defaults to
	// DefaultAccount.
	Account string
	// Region is the region in queue ARNs. Defaults to DefaultRegion.
	Region string
	// Senders maps the access key id that signed a request to the SenderId
	// the fake reports for the messages it sent (e.g. "AIDA..." for an IAM
	// user). A key id not in the map is reported as itself.
	Senders map[string]string
	// Dir is an empty directory for the fake's SQLite file. Defaults to a
	// new temporary directory, removed by Close.
	Dir string
	// PollInterval is the sqlitequeue long-poll interval. Defaults to
	// DefaultPollInterval.
	PollInterval time.Duration
}

// Fake is an SQS fake. It is safe for concurrent use.
type Fake struct {
	opts   Options
	db     *sql.DB
	tmpDir string

	mu      sync.Mutex
	brokers map[string]*sqlitequeue.Broker // by sender id; "" administers queues
	queues  map[string]*queueMeta
}

// queueMeta is what the fake keeps of a queue beyond sqlitequeue's
// configuration.
type queueMeta struct {
	attrs    map[string]string // settable attributes, as SQS returns them
	tags     map[string]string
	created  time.Time
	modified time.Time
	purged   time.Time
}

// New returns a fake with its own SQLite database.
func New(opts Options) (*Fake, error) {
	if opts.Account == "" {
		opts.Account = DefaultAccount
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	f := &Fake{opts: opts, brokers: map[string]*sqlitequeue.Broker{}, queues: map[string]*queueMeta{}}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sqsfake-")
		if err != nil {
			return nil, fmt.Errorf("sqsfake: %w", err)
		}
		dir, f.tmpDir = d, d
	}
	db, err := sqlitedb.OpenFile(filepath.Join(dir, sqlitedb.FileName))
	if err != nil {
		f.removeTemp()
		return nil, fmt.Errorf("sqsfake: %w", err)
	}
	f.db = db
	if _, err := f.broker(""); err != nil {
		_ = db.Close()
		f.removeTemp()
		return nil, fmt.Errorf("sqsfake: %w", err)
	}
	return f, nil
}

func (f *Fake) removeTemp() {
	if f.tmpDir != "" {
		_ = os.RemoveAll(f.tmpDir)
	}
}

// Close closes the database and removes the temporary directory New made.
func (f *Fake) Close() error {
	err := f.db.Close()
	f.removeTemp()
	return err
}

// Register adds the SQS service to srv.
func (f *Fake) Register(srv *awsfake.Server) { srv.Add(f.Service()) }

// Service returns the SQS service to add to an awsfake.Server.
func (f *Fake) Service() *awsfake.Service {
	return &awsfake.Service{
		TargetPrefix:    "AmazonSQS",
		ContentType:     "application/x-amz-json-1.0",
		QueryCompatible: true,
		Operations: map[string]awsfake.Operation{
			"CreateQueue":                  f.createQueue,
			"GetQueueUrl":                  f.getQueueURL,
			"GetQueueAttributes":           f.getQueueAttributes,
			"SetQueueAttributes":           f.setQueueAttributes,
			"DeleteQueue":                  f.deleteQueue,
			"ListQueues":                   f.listQueues,
			"TagQueue":                     f.tagQueue,
			"UntagQueue":                   f.untagQueue,
			"ListQueueTags":                f.listQueueTags,
			"PurgeQueue":                   f.purgeQueue,
			"SendMessage":                  f.sendMessage,
			"SendMessageBatch":             f.sendMessageBatch,
			"ReceiveMessage":               f.receiveMessage,
			"DeleteMessage":                f.deleteMessage,
			"DeleteMessageBatch":           f.deleteMessageBatch,
			"ChangeMessageVisibility":      f.changeMessageVisibility,
			"ChangeMessageVisibilityBatch": f.changeMessageVisibilityBatch,
		},
	}
}

// Start serves a new fake with default options on a loopback server closed
// when t ends, and returns its endpoint URL.
func Start(t testing.TB) string {
	t.Helper()
	_, endpoint := StartWith(t, Options{}, &awsfake.Server{})
	return endpoint
}

// StartWith serves a new fake with opts on srv (set srv.Hook before, for
// fault injection), both closed when t ends, and returns the fake and the
// endpoint URL. opts.Dir defaults to a directory of t's.
func StartWith(t testing.TB, opts Options, srv *awsfake.Server) (*Fake, string) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the server stops before the
	// database closes.
	t.Cleanup(func() { _ = f.Close() })
	f.Register(srv)
	return f, srv.Start(t)
}

// broker returns the sqlitequeue broker that sends as sender.
func (f *Fake) broker(sender string) (*sqlitequeue.Broker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.brokerLocked(sender)
}

func (f *Fake) brokerLocked(sender string) (*sqlitequeue.Broker, error) {
	if b, ok := f.brokers[sender]; ok {
		return b, nil
	}
	b, err := sqlitequeue.New(f.db, sqlitequeue.Options{SenderID: sender, PollInterval: f.opts.PollInterval})
	if err != nil {
		return nil, err
	}
	f.brokers[sender] = b
	return b, nil
}

// sender returns the SenderId of the request's signer.
func (f *Fake) sender(r *http.Request) (string, error) {
	auth := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "", errMissingAuthentication()
	}
	akid, _, _ := strings.Cut(cred, "/")
	if akid == "" {
		return "", errMissingAuthentication()
	}
	if id, ok := f.opts.Senders[akid]; ok {
		return id, nil
	}
	return akid, nil
}

// queueURL is the URL of queue name as seen by the request's client.
func (f *Fake) queueURL(r *http.Request, name string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/" + f.opts.Account + "/" + name
}

func (f *Fake) arn(name string) string {
	return "arn:aws:sqs:" + f.opts.Region + ":" + f.opts.Account + ":" + name
}

// nameFromARN returns the queue name of an SQS ARN of this fake's account
// and region.
func (f *Fake) nameFromARN(arn string) (string, bool) {
	prefix := "arn:aws:sqs:" + f.opts.Region + ":" + f.opts.Account + ":"
	name, ok := strings.CutPrefix(arn, prefix)
	return name, ok && validName(name)
}

// nameFromURL returns the queue name of a QueueUrl: its path must be
// /<account>/<name>.
func (f *Fake) nameFromURL(raw *string) (string, error) {
	if raw == nil || *raw == "" {
		return "", errMissingParameter("QueueUrl")
	}
	u, err := url.Parse(*raw)
	if err != nil {
		return "", errInvalidAddress(*raw)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] != f.opts.Account || !validName(parts[1]) {
		return "", errQueueDoesNotExist()
	}
	return parts[1], nil
}

// meta returns a copy-safe pointer to the queue's metadata; the caller
// holds f.mu.
func (f *Fake) metaLocked(name string) (*queueMeta, error) {
	m, ok := f.queues[name]
	if !ok {
		return nil, errQueueDoesNotExist()
	}
	return m, nil
}

// attr returns the queue's attribute a (and whether the queue exists).
func (f *Fake) attr(name, a string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.queues[name]
	if !ok {
		return "", false
	}
	return m.attrs[a], true
}

// validName applies the SQS rule for standard queue names.
func validName(name string) bool { return queue.ValidName(name) }

// Settable queue attributes, their defaults and ranges.
var attrSpecs = map[string]struct {
	def      string
	min, max int64
}{
	"DelaySeconds":                  {"0", 0, 900},
	"MaximumMessageSize":            {"262144", 1024, 262144},
	"MessageRetentionPeriod":        {"345600", 60, 1209600},
	"ReceiveMessageWaitTimeSeconds": {"0", 0, 20},
	"VisibilityTimeout":             {"30", 0, 43200},
}

// opaqueAttrs are attributes the fake stores and returns without giving
// them meaning.
var opaqueAttrs = []string{
	"Policy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "RedriveAllowPolicy",
}

// readOnlyAttrs are the attributes GetQueueAttributes computes.
var readOnlyAttrs = []string{
	"QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp",
}

// redrivePolicy is the RedrivePolicy attribute's JSON.
type redrivePolicy struct {
	DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
	MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
}

// checkAttrs validates the attributes of a CreateQueue or
// SetQueueAttributes of queue name and returns them canonical.
func (f *Fake) checkAttrs(name string, in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		switch {
		case k == "RedrivePolicy":
			c, err := f.checkRedrive(name, v)
			if err != nil {
				return nil, err
			}
			out[k] = c
		case k == "FifoQueue" || k == "ContentBasedDeduplication" || k == "DeduplicationScope" || k == "FifoThroughputLimit":
			if k == "FifoQueue" && v == "false" {
				continue
			}
			return nil, errInvalidAttributeName(k)
		case slices.Contains(opaqueAttrs, k):
			out[k] = v
		default:
			spec, ok := attrSpecs[k]
			if !ok {
				return nil, errInvalidAttributeName(k)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < spec.min || n > spec.max {
				return nil, errInvalidAttributeValue("Invalid value for the parameter %s. Reason: must be an integer from %d to %d.", k, spec.min, spec.max)
			}
			out[k] = strconv.FormatInt(n, 10)
		}
	}
	return out, nil
}

// checkRedrive validates a RedrivePolicy; "" removes the policy.
func (f *Fake) checkRedrive(name, v string) (string, error) {
	if v == "" {
		return "", nil
	}
	bad := func(reason string) error {
		return errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	var p redrivePolicy
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return "", bad("Redrive policy is not a valid JSON map.")
	}
	raw := strings.Trim(string(p.MaxReceiveCount), `"`)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return "", bad(fmt.Sprintf("Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", raw))
	}
	dlq, ok := f.nameFromARN(p.DeadLetterTargetArn)
	if !ok || dlq == name {
		return "", bad("Dead letter target does not exist.")
	}
	f.mu.Lock()
	_, exists := f.queues[dlq]
	f.mu.Unlock()
	if !exists {
		return "", bad("Dead letter target does not exist.")
	}
	c, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{p.DeadLetterTargetArn, n})
	return string(c), nil
}

// config turns a queue's attributes into sqlitequeue's configuration.
func (f *Fake) config(m *queueMeta) queue.Config {
	secs := func(a string) time.Duration {
		v := m.attrs[a]
		if v == "" {
			v = attrSpecs[a].def
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return time.Duration(n) * time.Second
	}
	cfg := queue.Config{
		VisibilityTimeout: secs("VisibilityTimeout"),
		Retention:         secs("MessageRetentionPeriod"),
		Tags:              maps.Clone(m.tags),
	}
	if cfg.VisibilityTimeout == 0 {
		// SQS allows 0 (visible again at once); sqlitequeue reads 0 as
		// "default", so the shortest it has.
		cfg.VisibilityTimeout = time.Millisecond
	}
	if rp := m.attrs["RedrivePolicy"]; rp != "" {
		var p struct {
			DeadLetterTargetArn string `json:"deadLetterTargetArn"`
			MaxReceiveCount     int    `json:"maxReceiveCount"`
		}
		if json.Unmarshal([]byte(rp), &p) == nil {
			if dlq, ok := f.nameFromARN(p.DeadLetterTargetArn); ok {
				cfg.DeadLetter = &queue.Redrive{Queue: dlq, MaxReceiveCount: p.MaxReceiveCount}
			}
		}
	}
	return cfg
}

// apply writes the queue's configuration to sqlitequeue; f.mu is held.
func (f *Fake) applyLocked(ctx context.Context, name string, m *queueMeta) error {
	if _, err := f.brokers[""].Create(ctx, name, f.config(m)); err != nil {
		return backendError(err)
	}
	return nil
}

// backendError maps a sqlitequeue error to an SQS answer.
func backendError(err error) error {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return errQueueDoesNotExist()
	case errors.Is(err, queue.ErrTooLarge):
		return errInvalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", queue.MaxBodySize)
	case errors.Is(err, queue.ErrInvalid):
		return errInvalidParameterValue("%v", err)
	}
	return err
}

type createQueueInput struct {
	QueueName  string
	Attributes map[string]string
	Tags       map[string]string `json:"tags"`
}

type queueURLOutput struct {
	QueueUrl string //nolint:revive // the SQS field name
}

func (f *Fake) createQueue(r *http.Request, body []byte) (any, error) {
	var in createQueueInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	if strings.HasSuffix(in.QueueName, ".fifo") {
		return nil, errInvalidParameterValue("The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length. (This fake has standard queues only.)")
	}
	if !validName(in.QueueName) {
		return nil, errInvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	attrs, err := f.checkAttrs(in.QueueName, in.Attributes)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.queues[in.QueueName]; ok {
		for _, k := range slices.Sorted(maps.Keys(attrs)) {
			have, ok := m.attrs[k]
			if !ok {
				have = attrSpecs[k].def
			}
			if have != attrs[k] {
				return nil, errQueueNameExists(k)
			}
		}
		return queueURLOutput{f.queueURL(r, in.QueueName)}, nil
	}
	now := time.Now()
	m := &queueMeta{attrs: attrs, tags: maps.Clone(in.Tags), created: now, modified: now}
	if m.tags == nil {
		m.tags = map[string]string{}
	}
	if err := f.applyLocked(r.Context(), in.QueueName, m); err != nil {
		return nil, err
	}
	f.queues[in.QueueName] = m
	return queueURLOutput{f.queueURL(r, in.QueueName)}, nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errInvalidParameterValue("Too many tags: %d, at most 50.", len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return errInvalidParameterValue("Tag %q: keys are 1 to 128 characters, values at most 256.", k)
		}
	}
	return nil
}

func (f *Fake) getQueueURL(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueName              string
		QueueOwnerAWSAccountId string //nolint:revive // the SQS field name
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	if in.QueueOwnerAWSAccountId != "" && in.QueueOwnerAWSAccountId != f.opts.Account {
		return nil, errQueueDoesNotExist()
	}
	f.mu.Lock()
	_, ok := f.queues[in.QueueName]
	f.mu.Unlock()
	if !ok {
		return nil, errQueueDoesNotExist()
	}
	return queueURLOutput{f.queueURL(r, in.QueueName)}, nil
}

type queueURLInput struct {
	QueueUrl *string //nolint:revive // the SQS field name
}

func (f *Fake) getQueueAttributes(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl       *string //nolint:revive // the SQS field name
		AttributeNames []string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	all := slices.Contains(in.AttributeNames, "All")
	want := map[string]bool{}
	for _, a := range in.AttributeNames {
		_, settable := attrSpecs[a]
		known := a == "All" || a == "RedrivePolicy" || settable ||
			slices.Contains(opaqueAttrs, a) || slices.Contains(readOnlyAttrs, a)
		if !known {
			return nil, errInvalidAttributeName(a)
		}
		want[a] = true
	}
	f.mu.Lock()
	m, err := f.metaLocked(name)
	if err != nil {
		f.mu.Unlock()
		return nil, err
	}
	out := map[string]string{
		"QueueArn":              f.arn(name),
		"CreatedTimestamp":      strconv.FormatInt(m.created.Unix(), 10),
		"LastModifiedTimestamp": strconv.FormatInt(m.modified.Unix(), 10),
	}
	for k, spec := range attrSpecs {
		out[k] = spec.def
	}
	maps.Copy(out, m.attrs)
	if out["RedrivePolicy"] == "" {
		delete(out, "RedrivePolicy")
	}
	f.mu.Unlock()
	if all || want["ApproximateNumberOfMessages"] || want["ApproximateNumberOfMessagesNotVisible"] || want["ApproximateNumberOfMessagesDelayed"] {
		visible, inflight, delayed, err := f.counts(r.Context(), name)
		if err != nil {
			return nil, err
		}
		out["ApproximateNumberOfMessages"] = strconv.Itoa(visible)
		out["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(inflight)
		out["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(delayed)
	}
	if !all {
		for k := range out {
			if !want[k] {
				delete(out, k)
			}
		}
	}
	type output struct {
		Attributes map[string]string `json:",omitempty"`
	}
	return output{out}, nil
}

// counts reads the queue's message counts from sqlitequeue's table
// (queue_messages: queue, visible_at in Unix ms, receives); the port has
// no call for them.
func (f *Fake) counts(ctx context.Context, name string) (visible, inflight, delayed int, err error) {
	now := time.Now().UnixMilli()
	err = f.db.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(visible_at <= ?), 0),
			COALESCE(SUM(visible_at > ? AND receives > 0), 0),
			COALESCE(SUM(visible_at > ? AND receives = 0), 0)
		FROM queue_messages WHERE queue = ?`, now, now, now, name).Scan(&visible, &inflight, &delayed)
	return visible, inflight, delayed, err
}

func (f *Fake) setQueueAttributes(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl   *string //nolint:revive // the SQS field name
		Attributes map[string]string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Attributes) == 0 {
		return nil, errMissingParameter("Attribute.Name")
	}
	if _, ok := f.attr(name, "VisibilityTimeout"); !ok {
		return nil, errQueueDoesNotExist()
	}
	attrs, err := f.checkAttrs(name, in.Attributes)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.metaLocked(name)
	if err != nil {
		return nil, err
	}
	next := *m
	next.attrs = maps.Clone(m.attrs)
	maps.Copy(next.attrs, attrs)
	next.modified = time.Now()
	if err := f.applyLocked(r.Context(), name, &next); err != nil {
		return nil, err
	}
	*m = next
	return struct{}{}, nil
}

func (f *Fake) deleteQueue(r *http.Request, body []byte) (any, error) {
	var in queueURLInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.metaLocked(name); err != nil {
		return nil, err
	}
	if err := f.brokers[""].Delete(r.Context(), name); err != nil && !errors.Is(err, queue.ErrNotFound) {
		return nil, err
	}
	delete(f.queues, name)
	return struct{}{}, nil
}

func (f *Fake) listQueues(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueNamePrefix string
		NextToken       string
		MaxResults      *int
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, errInvalidParameterValue("Value %d for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000.", *in.MaxResults)
		}
		limit = *in.MaxResults
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.StdEncoding.DecodeString(in.NextToken)
		if err != nil {
			return nil, errInvalidParameterValue("Invalid NextToken value.")
		}
		after = string(b)
	}
	f.mu.Lock()
	var names []string
	for n := range f.queues {
		if strings.HasPrefix(n, in.QueueNamePrefix) && n > after {
			names = append(names, n)
		}
	}
	f.mu.Unlock()
	slices.Sort(names)
	type output struct {
		QueueUrls []string `json:",omitempty"`
		NextToken string   `json:",omitempty"`
	}
	var out output
	for i, n := range names {
		if i == limit {
			if in.MaxResults != nil {
				out.NextToken = base64.StdEncoding.EncodeToString([]byte(names[i-1]))
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, f.queueURL(r, n))
	}
	return out, nil
}

func (f *Fake) tagQueue(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		Tags     map[string]string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, errMissingParameter("Tags")
	}
	return f.retag(r.Context(), name, func(tags map[string]string) error {
		maps.Copy(tags, in.Tags)
		return checkTags(tags)
	})
}

func (f *Fake) untagQueue(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		TagKeys  []string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, errMissingParameter("TagKeys")
	}
	return f.retag(r.Context(), name, func(tags map[string]string) error {
		for _, k := range in.TagKeys {
			delete(tags, k)
		}
		return nil
	})
}

// retag changes the queue's tags with edit and stores them.
func (f *Fake) retag(ctx context.Context, name string, edit func(map[string]string) error) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.metaLocked(name)
	if err != nil {
		return nil, err
	}
	next := *m
	next.tags = maps.Clone(m.tags)
	if err := edit(next.tags); err != nil {
		return nil, err
	}
	if err := f.applyLocked(ctx, name, &next); err != nil {
		return nil, err
	}
	*m = next
	return struct{}{}, nil
}

func (f *Fake) listQueueTags(_ *http.Request, body []byte) (any, error) {
	var in queueURLInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.metaLocked(name)
	if err != nil {
		return nil, err
	}
	type output struct {
		Tags map[string]string `json:",omitempty"`
	}
	return output{maps.Clone(m.tags)}, nil
}

// purgeInterval is how often SQS lets a queue be purged.
const purgeInterval = 60 * time.Second

func (f *Fake) purgeQueue(r *http.Request, body []byte) (any, error) {
	var in queueURLInput
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.metaLocked(name)
	if err != nil {
		return nil, err
	}
	if time.Since(m.purged) < purgeInterval {
		return nil, errPurgeInProgress(name)
	}
	// sqlitequeue has no purge: delete the queue's rows of its table.
	if _, err := f.db.ExecContext(r.Context(), `DELETE FROM queue_messages WHERE queue = ?`, name); err != nil {
		return nil, err
	}
	m.purged = time.Now()
	return struct{}{}, nil
}
