package logsfake

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/test/awsfake"
)

// Limits of CloudWatch Logs, as the API reference documents them.
const (
	// MaxBatchEvents is the most events one PutLogEvents call takes.
	MaxBatchEvents = 10000
	// MaxBatchBytes bounds one PutLogEvents call: the sum of the messages'
	// UTF-8 bytes plus EventOverhead per event.
	MaxBatchBytes = 1048576
	// EventOverhead is what each event adds to a batch's size.
	EventOverhead = 26
	// MaxEventBytes bounds one event (message plus EventOverhead).
	MaxEventBytes = 1048576
	// MaxBatchSpan is the widest time span of one PutLogEvents batch.
	MaxBatchSpan = 24 * time.Hour
	// MaxFuture and MaxPast bound event timestamps relative to now.
	MaxFuture = 2 * time.Hour
	MaxPast   = 14 * 24 * time.Hour
	// MaxGetEvents is GetLogEvents' and FilterLogEvents' largest and
	// default limit; MaxResponseBytes bounds one page.
	MaxGetEvents     = 10000
	MaxResponseBytes = 1048576
)

// Account and Region appear in the ARNs the fake answers with.
const (
	Account = "123456789012"
	Region  = "us-east-1"
)

// Event is one log event: its timestamp (kept to the millisecond) and
// message.
type Event struct {
	Time    time.Time
	Message string
}

// Fake is an in-memory CloudWatch Logs. Its methods are safe for
// concurrent use.
type Fake struct {
	// Now is the clock PutLogEvents validates timestamps against and
	// ingestion times come from. Defaults to time.Now; set it before
	// serving.
	Now func() time.Time

	mu     sync.Mutex
	groups map[string]*group
	hook   func(op string) error
	ingest uint64 // ingestion counter: ties and event ids
	sub    deliveries
}

type group struct {
	name      string
	created   int64
	retention *int32
	streams   map[string]*stream
	subs      []*subscription
}

type stream struct {
	name    string
	created int64
	events  []stored // by timestamp, ties in ingestion order
	lastIn  int64    // last ingestion time
}

type stored struct {
	ts, ingested int64
	seq          uint64
	msg          string
}

func (e stored) id() string { return fmt.Sprintf("%020d%036d", e.ts, e.seq) }

// New returns an empty fake. Once a subscription filter is put, it
// delivers on a goroutine of its own: Close stops it.
func New() *Fake {
	f := &Fake{groups: map[string]*group{}}
	f.sub.ctx, f.sub.cancel = context.WithCancel(context.Background())
	f.sub.dests = map[string]Destination{}
	f.sub.open = map[string]*batch{}
	f.sub.wake = make(chan struct{}, 1)
	f.sub.idle = make(chan struct{})
	f.sub.opts = Delivery{}.withDefaults()
	f.sub.rng = rand.New(rand.NewPCG(f.sub.opts.Seed, 1)) //nolint:gosec // fault injection needs no cryptographic randomness
	return f
}

// Start serves a new fake on a loopback server closed when t ends (then
// closes the fake) and returns it with its endpoint URL.
func Start(t testing.TB) (*Fake, string) {
	t.Helper()
	f := New()
	t.Cleanup(f.Close)
	var s awsfake.Server
	f.Register(&s)
	return f, s.Start(t)
}

// Register adds the fake's operations to s.
func (f *Fake) Register(s *awsfake.Server) { s.Add(f.Service()) }

// Service returns the fake as an awsfake.Service.
func (f *Fake) Service() *awsfake.Service {
	ops := map[string]func([]byte) (any, error){
		"CreateLogGroup":     f.createLogGroup,
		"DeleteLogGroup":     f.deleteLogGroup,
		"DescribeLogGroups":  f.describeLogGroups,
		"CreateLogStream":    f.createLogStream,
		"DeleteLogStream":    f.deleteLogStream,
		"DescribeLogStreams": f.describeLogStreams,
		"PutLogEvents":       f.putLogEvents,
		"GetLogEvents":       f.getLogEvents,
		"FilterLogEvents":    f.filterLogEvents,
		"PutRetentionPolicy": f.putRetentionPolicy,

		"PutSubscriptionFilter":       f.putSubscriptionFilter,
		"DescribeSubscriptionFilters": f.describeSubscriptionFilters,
		"DeleteSubscriptionFilter":    f.deleteSubscriptionFilter,
	}
	svc := &awsfake.Service{
		TargetPrefix: "Logs_20140328",
		ContentType:  "application/x-amz-json-1.1",
		Operations:   map[string]awsfake.Operation{},
	}
	for name, op := range ops {
		svc.Operations[name] = func(_ *http.Request, body []byte) (any, error) {
			f.mu.Lock()
			hook := f.hook
			f.mu.Unlock()
			if hook != nil {
				if err := hook(name); err != nil {
					return nil, err
				}
			}
			return op(body)
		}
	}
	return svc
}

// SetHook makes hook see every operation ("GetLogEvents") before it runs;
// a non-nil error is answered instead (an *awsfake.Error as is, such as
// Throttling()). nil removes the hook.
func (f *Fake) SetHook(hook func(op string) error) {
	f.mu.Lock()
	f.hook = hook
	f.mu.Unlock()
}

// Throttling returns the error CloudWatch Logs answers when a caller is
// throttled: 400 ThrottlingException, "Rate exceeded".
func Throttling() *awsfake.Error {
	return awsfake.ClientError("ThrottlingException", "Rate exceeded")
}

// Append stores events in the stream as they are (no validation),
// creating the group and the stream when missing. Events are placed by
// timestamp, after any events with the same timestamp.
func (f *Fake) Append(groupName, streamName string, events ...Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	g := f.groups[groupName]
	if g == nil {
		g = &group{name: groupName, created: now, streams: map[string]*stream{}}
		f.groups[groupName] = g
	}
	s := g.streams[streamName]
	if s == nil {
		s = &stream{name: streamName, created: now}
		g.streams[streamName] = s
	}
	for _, e := range events {
		f.store(g, s, e.Time.UnixMilli(), e.Message, now)
	}
}

// Events returns the events of a stream in stream order, or nil when the
// group or stream does not exist.
func (f *Fake) Events(groupName, streamName string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[groupName]
	if g == nil || g.streams[streamName] == nil {
		return nil
	}
	var out []Event
	for _, e := range g.streams[streamName].events {
		out = append(out, Event{Time: time.UnixMilli(e.ts).UTC(), Message: e.msg})
	}
	return out
}

func (f *Fake) now() int64 {
	if f.Now != nil {
		return f.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// store inserts one event after every event whose timestamp is not
// later, and hands it to the group's subscription filters. f.mu is held.
func (f *Fake) store(g *group, s *stream, ts int64, msg string, now int64) {
	f.ingest++
	e := stored{ts: ts, ingested: now, seq: f.ingest, msg: msg}
	i := sort.Search(len(s.events), func(i int) bool { return s.events[i].ts > ts })
	s.events = slices.Insert(s.events, i, e)
	s.lastIn = now
	f.route(g, s, e)
}

// Errors as CloudWatch Logs answers them.

func notFound(format string, args ...any) error {
	return awsfake.ClientError("ResourceNotFoundException", format, args...)
}

func invalid(format string, args ...any) error {
	return awsfake.ClientError("InvalidParameterException", format, args...)
}

func groupNotFound() error  { return notFound("The specified log group does not exist.") }
func streamNotFound() error { return notFound("The specified log stream does not exist.") }

var (
	groupNameRE  = regexp.MustCompile(`^[\.\-_/#A-Za-z0-9]{1,512}$`)
	streamNameRE = regexp.MustCompile(`^[^:*]{1,512}$`)
)

func groupARN(name string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", Region, Account, name)
}

// groupOf resolves logGroupName or logGroupIdentifier (a name or an
// ARN). f.mu is held.
func (f *Fake) groupOf(name, ident *string) (*group, error) {
	switch {
	case name != nil && ident != nil:
		return nil, invalid("LogGroupName and LogGroupIdentifier are mutually exclusive parameters.")
	case name == nil && ident == nil:
		return nil, invalid("Either LogGroupName or LogGroupIdentifier is required.")
	}
	n := ""
	if name != nil {
		n = *name
	} else {
		n = strings.TrimSuffix(strings.TrimPrefix(*ident, groupARN("")), ":*")
	}
	g := f.groups[n]
	if g == nil {
		return nil, groupNotFound()
	}
	return g, nil
}

func required(field string, v *string) error {
	if v == nil {
		return invalid("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	return nil
}

// --- groups and streams ---

type groupInput struct {
	LogGroupName       *string `json:"logGroupName"`
	LogGroupIdentifier *string `json:"logGroupIdentifier"`
}

func (f *Fake) createLogGroup(body []byte) (any, error) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	name := *in.LogGroupName
	if !groupNameRE.MatchString(name) || strings.HasPrefix(name, "aws/") {
		return nil, invalid("1 validation error detected: Value '%s' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[name] != nil {
		return nil, awsfake.ClientError("ResourceAlreadyExistsException", "The specified log group already exists")
	}
	f.groups[name] = &group{name: name, created: f.now(), streams: map[string]*stream{}}
	return struct{}{}, nil
}

func (f *Fake) deleteLogGroup(body []byte) (any, error) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.groups[*in.LogGroupName] == nil {
		return nil, groupNotFound()
	}
	delete(f.groups, *in.LogGroupName)
	return struct{}{}, nil
}

type logGroupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int32 `json:"retentionInDays,omitempty"`
	MetricFilterCount int32  `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	LogGroupArn       string `json:"logGroupArn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
}

func (f *Fake) describeLogGroups(body []byte) (any, error) {
	var in struct {
		LogGroupNamePrefix  *string `json:"logGroupNamePrefix"`
		LogGroupNamePattern *string `json:"logGroupNamePattern"`
		Limit               *int32  `json:"limit"`
		NextToken           *string `json:"nextToken"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogGroupNamePrefix != nil && in.LogGroupNamePattern != nil {
		return nil, invalid("LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive parameters.")
	}
	limit, err := limitOf(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for name := range f.groups {
		switch {
		case in.LogGroupNamePrefix != nil && !strings.HasPrefix(name, *in.LogGroupNamePrefix):
		case in.LogGroupNamePattern != nil && !strings.Contains(name, *in.LogGroupNamePattern):
		default:
			names = append(names, name)
		}
	}
	sort.Strings(names)
	page, next, err := pageOf(names, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		LogGroups []logGroupOut `json:"logGroups"`
		NextToken *string       `json:"nextToken,omitempty"`
	}{LogGroups: []logGroupOut{}, NextToken: next}
	for _, name := range page {
		g := f.groups[name]
		var bytes int64
		for _, s := range g.streams {
			for _, e := range s.events {
				bytes += int64(len(e.msg))
			}
		}
		out.LogGroups = append(out.LogGroups, logGroupOut{
			LogGroupName: name, CreationTime: g.created, RetentionInDays: g.retention,
			Arn: groupARN(name) + ":*", LogGroupArn: groupARN(name), StoredBytes: bytes, LogGroupClass: "STANDARD",
		})
	}
	return out, nil
}

func (f *Fake) createLogStream(body []byte) (any, error) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := required("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	name := *in.LogStreamName
	if !streamNameRE.MatchString(name) {
		return nil, invalid("1 validation error detected: Value '%s' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	if g.streams[name] != nil {
		return nil, awsfake.ClientError("ResourceAlreadyExistsException", "The specified log stream already exists")
	}
	g.streams[name] = &stream{name: name, created: f.now()}
	return struct{}{}, nil
}

func (f *Fake) deleteLogStream(body []byte) (any, error) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := required("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	if g.streams[*in.LogStreamName] == nil {
		return nil, streamNotFound()
	}
	delete(g.streams, *in.LogStreamName)
	return struct{}{}, nil
}

type logStreamOut struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	UploadSequenceToken string `json:"uploadSequenceToken"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

func (f *Fake) describeLogStreams(body []byte) (any, error) {
	var in struct {
		groupInput
		LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
		OrderBy             *string `json:"orderBy"`
		Descending          *bool   `json:"descending"`
		Limit               *int32  `json:"limit"`
		NextToken           *string `json:"nextToken"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	byTime := false
	if in.OrderBy != nil {
		switch *in.OrderBy {
		case "LogStreamName":
		case "LastEventTime":
			byTime = true
		default:
			return nil, invalid("1 validation error detected: Value '%s' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]", *in.OrderBy)
		}
	}
	if byTime && in.LogStreamNamePrefix != nil {
		return nil, invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	limit, err := limitOf(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	var streams []*stream
	for name, s := range g.streams {
		if in.LogStreamNamePrefix == nil || strings.HasPrefix(name, *in.LogStreamNamePrefix) {
			streams = append(streams, s)
		}
	}
	sort.Slice(streams, func(i, j int) bool {
		if byTime {
			a, b := lastTS(streams[i]), lastTS(streams[j])
			if a != b {
				return a < b
			}
		}
		return streams[i].name < streams[j].name
	})
	desc := in.Descending != nil && *in.Descending
	if desc {
		slices.Reverse(streams)
	}
	var (
		page []*stream
		next *string
	)
	if byTime {
		page, next, err = pageOf(streams, in.NextToken, limit)
	} else {
		page, next, err = pageAfter(streams, in.NextToken, limit, desc)
	}
	if err != nil {
		return nil, err
	}
	out := struct {
		LogStreams []logStreamOut `json:"logStreams"`
		NextToken  *string        `json:"nextToken,omitempty"`
	}{LogStreams: []logStreamOut{}, NextToken: next}
	for _, s := range page {
		o := logStreamOut{
			LogStreamName: s.name, CreationTime: s.created,
			UploadSequenceToken: "49039859613988222292761537954624936451549853417893200994",
			Arn:                 groupARN(g.name) + ":log-stream:" + s.name,
		}
		if n := len(s.events); n > 0 {
			first, last, in := s.events[0].ts, s.events[n-1].ts, s.lastIn
			o.FirstEventTimestamp, o.LastEventTimestamp, o.LastIngestionTime = &first, &last, &in
		}
		out.LogStreams = append(out.LogStreams, o)
	}
	return out, nil
}

func lastTS(s *stream) int64 {
	if len(s.events) == 0 {
		return 0
	}
	return s.events[len(s.events)-1].ts
}

var retentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (f *Fake) putRetentionPolicy(body []byte) (any, error) {
	var in struct {
		LogGroupName    *string `json:"logGroupName"`
		RetentionInDays *int32  `json:"retentionInDays"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if in.RetentionInDays == nil || !slices.Contains(retentionDays, *in.RetentionInDays) {
		v := "null"
		if in.RetentionInDays != nil {
			v = strconv.Itoa(int(*in.RetentionInDays))
		}
		return nil, invalid("1 validation error detected: Value '%s' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: %v", v, retentionDays)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	days := *in.RetentionInDays
	g.retention = &days
	return struct{}{}, nil
}

// --- events ---

type rejectedInfo struct {
	TooNewLogEventStartIndex *int32 `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int32 `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int32 `json:"expiredLogEventEndIndex,omitempty"`
}

func (f *Fake) putLogEvents(body []byte) (any, error) {
	var in struct {
		LogGroupName  *string `json:"logGroupName"`
		LogStreamName *string `json:"logStreamName"`
		LogEvents     []struct {
			Timestamp *int64  `json:"timestamp"`
			Message   *string `json:"message"`
		} `json:"logEvents"`
		SequenceToken *string `json:"sequenceToken"` // ignored, as AWS now does
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := required("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	switch n := len(in.LogEvents); {
	case n == 0:
		return nil, invalid("1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case n > MaxBatchEvents:
		return nil, invalid("1 validation error detected: Value at 'logEvents' failed to satisfy constraint: Member must have length less than or equal to %d", MaxBatchEvents)
	}
	size := 0
	for i, e := range in.LogEvents {
		if e.Timestamp == nil || e.Message == nil {
			return nil, invalid("1 validation error detected: Value null at 'logEvents.%d.member' failed to satisfy constraint: Member must not be null", i+1)
		}
		if len(*e.Message) == 0 {
			return nil, invalid("1 validation error detected: Value '' at 'logEvents.%d.member.message' failed to satisfy constraint: Member must have length greater than or equal to 1", i+1)
		}
		n := len(*e.Message) + EventOverhead
		if n > MaxEventBytes {
			return nil, invalid("Log event too large: %d bytes exceeds limit of %d", n, MaxEventBytes)
		}
		size += n
		if i > 0 && *e.Timestamp < *in.LogEvents[i-1].Timestamp {
			return nil, invalid("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if size > MaxBatchBytes {
		return nil, invalid("Upload too large: %d bytes exceeds limit of %d", size, MaxBatchBytes)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	s := g.streams[*in.LogStreamName]
	if s == nil {
		return nil, streamNotFound()
	}
	now := f.now()
	tooOld := now - MaxPast.Milliseconds()
	expired := int64(-1 << 62)
	if g.retention != nil {
		expired = now - int64(*g.retention)*24*time.Hour.Milliseconds()
	}
	tooNew := now + MaxFuture.Milliseconds()
	// Events are sorted: too old and expired ones form a prefix, too new
	// ones a suffix.
	var rej rejectedInfo
	lo, hi := 0, len(in.LogEvents)
	for i, e := range in.LogEvents {
		ts := *e.Timestamp
		if ts < tooOld {
			end := int32(i + 1)
			rej.TooOldLogEventEndIndex = &end
			lo = i + 1
		}
		if ts < expired {
			end := int32(i + 1)
			rej.ExpiredLogEventEndIndex = &end
			lo = max(lo, i+1)
		}
		if ts > tooNew && hi == len(in.LogEvents) {
			start := int32(i)
			rej.TooNewLogEventStartIndex = &start
			hi = i
		}
	}
	if lo < hi && *in.LogEvents[hi-1].Timestamp-*in.LogEvents[lo].Timestamp > MaxBatchSpan.Milliseconds() {
		return nil, invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	for _, e := range in.LogEvents[lo:max(lo, hi)] {
		f.store(g, s, *e.Timestamp, *e.Message, now)
	}
	out := struct {
		NextSequenceToken     string        `json:"nextSequenceToken"`
		RejectedLogEventsInfo *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
	}{NextSequenceToken: fmt.Sprintf("%056d", f.ingest)}
	if rej != (rejectedInfo{}) {
		out.RejectedLogEventsInfo = &rej
	}
	return out, nil
}

type outputEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// Tokens of GetLogEvents: a direction and a position in the stream (the
// index of the next event forward, or one past the next event backward).
const tokenDigits = 56

func token(dir byte, pos int) string { return fmt.Sprintf("%c/%0*d", dir, tokenDigits, pos) }

func parseToken(tok string) (dir byte, pos int, ok bool) {
	if len(tok) != 2+tokenDigits || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' {
		return 0, 0, false
	}
	digits := tok[2:]
	if strings.Trim(digits, "0123456789") != "" {
		return 0, 0, false
	}
	n, err := strconv.Atoi(digits) // leading zeros: no overflow
	if err != nil {
		return 0, 0, false
	}
	return tok[0], n, true
}

func (f *Fake) getLogEvents(body []byte) (any, error) {
	var in struct {
		groupInput
		LogStreamName *string `json:"logStreamName"`
		StartTime     *int64  `json:"startTime"`
		EndTime       *int64  `json:"endTime"`
		NextToken     *string `json:"nextToken"`
		Limit         *int32  `json:"limit"`
		StartFromHead *bool   `json:"startFromHead"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logStreamName", in.LogStreamName); err != nil {
		return nil, err
	}
	limit, err := limitOf(in.Limit, MaxGetEvents, MaxGetEvents)
	if err != nil {
		return nil, err
	}
	forward := in.StartFromHead != nil && *in.StartFromHead
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	s := g.streams[*in.LogStreamName]
	if s == nil {
		return nil, streamNotFound()
	}
	n := len(s.events)
	pos := 0
	if !forward {
		pos = n
	}
	if in.NextToken != nil {
		dir, p, ok := parseToken(*in.NextToken)
		if !ok || p > n {
			return nil, invalid("The specified nextToken is invalid.")
		}
		forward, pos = dir == 'f', p
	}
	inRange := func(e stored) bool {
		return (in.StartTime == nil || e.ts >= *in.StartTime) && (in.EndTime == nil || e.ts < *in.EndTime)
	}
	var page []outputEvent
	size := 0
	take := func(e stored) bool {
		if len(page) == limit || size+len(e.msg)+EventOverhead > MaxResponseBytes {
			return false
		}
		size += len(e.msg) + EventOverhead
		page = append(page, outputEvent{Timestamp: e.ts, Message: e.msg, IngestionTime: e.ingested})
		return true
	}
	first, end := pos, pos // the page covers positions [first, end)
	if forward {
		for end < n {
			if inRange(s.events[end]) && !take(s.events[end]) {
				break
			}
			end++
		}
	} else {
		for first > 0 {
			if inRange(s.events[first-1]) && !take(s.events[first-1]) {
				break
			}
			first--
		}
		slices.Reverse(page)
	}
	out := struct {
		Events            []outputEvent `json:"events"`
		NextForwardToken  string        `json:"nextForwardToken"`
		NextBackwardToken string        `json:"nextBackwardToken"`
	}{Events: page, NextForwardToken: token('f', end), NextBackwardToken: token('b', first)}
	if out.Events == nil {
		out.Events = []outputEvent{}
	}
	// At the end of the stream the token sent comes back unchanged.
	if in.NextToken != nil {
		if forward && end == pos {
			out.NextForwardToken = *in.NextToken
		}
		if !forward && first == pos {
			out.NextBackwardToken = *in.NextToken
		}
	}
	return out, nil
}

type filteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

func (f *Fake) filterLogEvents(body []byte) (any, error) {
	var in struct {
		groupInput
		LogStreamNames      []string `json:"logStreamNames"`
		LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		FilterPattern       *string  `json:"filterPattern"`
		NextToken           *string  `json:"nextToken"`
		Limit               *int32   `json:"limit"`
		StartFromHead       *bool    `json:"startFromHead"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.LogStreamNames != nil && in.LogStreamNamePrefix != nil {
		return nil, invalid("Cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	if len(in.LogStreamNames) > 100 {
		return nil, invalid("1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	limit, err := limitOf(in.Limit, MaxGetEvents, MaxGetEvents)
	if err != nil {
		return nil, err
	}
	match, err := filterOf(in.FilterPattern)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, err := f.groupOf(in.LogGroupName, in.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	var all []filteredEvent
	var seqs []uint64
	for name, s := range g.streams {
		switch {
		case in.LogStreamNames != nil && !slices.Contains(in.LogStreamNames, name):
			continue
		case in.LogStreamNamePrefix != nil && !strings.HasPrefix(name, *in.LogStreamNamePrefix):
			continue
		}
		for _, e := range s.events {
			if (in.StartTime != nil && e.ts < *in.StartTime) || (in.EndTime != nil && e.ts > *in.EndTime) || !match(e.msg) {
				continue
			}
			all = append(all, filteredEvent{LogStreamName: name, Timestamp: e.ts, Message: e.msg, IngestionTime: e.ingested, EventID: e.id()})
			seqs = append(seqs, e.seq)
		}
	}
	if in.LogStreamNames != nil {
		for _, name := range in.LogStreamNames {
			if g.streams[name] == nil {
				return nil, streamNotFound()
			}
		}
	}
	idx := make([]int, len(all))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		ea, eb := all[idx[a]], all[idx[b]]
		if ea.Timestamp != eb.Timestamp {
			return ea.Timestamp < eb.Timestamp
		}
		return seqs[idx[a]] < seqs[idx[b]]
	})
	sorted := make([]filteredEvent, len(all))
	for i, j := range idx {
		sorted[i] = all[j]
	}
	if in.StartFromHead != nil && !*in.StartFromHead && in.NextToken == nil {
		slices.Reverse(sorted)
	}
	// The token is the offset of the next event; events are addressed by
	// their place in the (stable) order of the query.
	start := 0
	if in.NextToken != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		if err != nil {
			return nil, invalid("The specified nextToken is invalid.")
		}
		dir, off, _ := strings.Cut(string(raw), ":")
		if start, err = strconv.Atoi(off); err != nil || start > len(sorted) {
			return nil, invalid("The specified nextToken is invalid.")
		}
		if dir == "b" {
			slices.Reverse(sorted)
		}
	}
	out := struct {
		Events             []filteredEvent `json:"events"`
		SearchedLogStreams []struct{}      `json:"searchedLogStreams"`
		NextToken          *string         `json:"nextToken,omitempty"`
	}{Events: []filteredEvent{}, SearchedLogStreams: []struct{}{}}
	size, end := 0, start
	for end < len(sorted) && len(out.Events) < limit {
		e := sorted[end]
		if size+len(e.Message)+EventOverhead > MaxResponseBytes {
			break
		}
		size += len(e.Message) + EventOverhead
		out.Events = append(out.Events, e)
		end++
	}
	if end < len(sorted) {
		dir := "f"
		if in.StartFromHead != nil && !*in.StartFromHead {
			dir = "b"
		}
		if in.NextToken != nil {
			raw, _ := base64.RawURLEncoding.DecodeString(*in.NextToken)
			dir, _, _ = strings.Cut(string(raw), ":")
		}
		tok := base64.RawURLEncoding.EncodeToString([]byte(dir + ":" + strconv.Itoa(end)))
		out.NextToken = &tok
	}
	return out, nil
}

// filterOf compiles the subset of the filter pattern syntax the fake
// understands: no pattern or "" matches everything; otherwise every term
// (a word or a "quoted phrase") must occur in the message. JSON and
// space-delimited patterns are refused.
func filterOf(p *string) (func(string) bool, error) {
	if p == nil || strings.TrimSpace(*p) == "" {
		return func(string) bool { return true }, nil
	}
	pat := strings.TrimSpace(*p)
	if strings.HasPrefix(pat, "{") || strings.HasPrefix(pat, "[") {
		return nil, invalid("logsfake: filter pattern %q is not supported by this fake", pat)
	}
	var terms []string
	for pat != "" {
		if pat[0] == '"' {
			end := strings.IndexByte(pat[1:], '"')
			if end < 0 {
				return nil, invalid("Invalid filter pattern: %s", *p)
			}
			terms = append(terms, pat[1:1+end])
			pat = strings.TrimSpace(pat[end+2:])
			continue
		}
		word, rest, _ := strings.Cut(pat, " ")
		terms = append(terms, word)
		pat = strings.TrimSpace(rest)
	}
	return func(msg string) bool {
		for _, t := range terms {
			if !strings.Contains(msg, t) {
				return false
			}
		}
		return true
	}, nil
}

func limitOf(limit *int32, def, maxLimit int) (int, error) {
	if limit == nil {
		return def, nil
	}
	if *limit < 1 || int(*limit) > maxLimit {
		return 0, invalid("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *limit, maxLimit)
	}
	return int(*limit), nil
}

// pageOf pages a listing with an opaque offset token.
func pageOf[T any](all []T, tok *string, limit int) ([]T, *string, error) {
	start := 0
	if tok != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*tok)
		if err == nil {
			start, err = strconv.Atoi(string(raw))
		}
		if err != nil || start < 0 || start > len(all) {
			return nil, nil, invalid("The specified nextToken is invalid.")
		}
	}
	end := min(start+limit, len(all))
	var next *string
	if end < len(all) {
		t := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
		next = &t
	}
	return all[start:end], next, nil
}

// pageAfter pages streams listed by name with a token naming the last
// stream of the previous page, as CloudWatch's (and moto's) tokens do: a
// stream created or deleted between pages neither repeats nor hides the
// others.
func pageAfter(all []*stream, tok *string, limit int, desc bool) ([]*stream, *string, error) {
	start := 0
	if tok != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*tok)
		last, ok := strings.CutPrefix(string(raw), "after:")
		if err != nil || !ok {
			return nil, nil, invalid("The specified nextToken is invalid.")
		}
		start = sort.Search(len(all), func(i int) bool {
			if desc {
				return all[i].name < last
			}
			return all[i].name > last
		})
	}
	end := min(start+limit, len(all))
	var next *string
	if end < len(all) {
		t := base64.RawURLEncoding.EncodeToString([]byte("after:" + all[end-1].name))
		next = &t
	}
	return all[start:end], next, nil
}
