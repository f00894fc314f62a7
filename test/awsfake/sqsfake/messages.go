package sqsfake

import (
	"context"
	"crypto/md5" //nolint:gosec // SQS's checksums are MD5
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/test/awsfake"
)

// Message limits SQS checks.
const (
	maxDelaySeconds      = 900
	maxMessageAttributes = 10
	maxVisibilitySeconds = 43200
	maxWaitSeconds       = 20
	// maxBatchBytes bounds the sum of a SendMessageBatch's message sizes.
	maxBatchBytes = 1 << 20
)

// attrValue is a MessageAttributeValue.
type attrValue struct {
	DataType    string
	StringValue *string `json:",omitempty"`
	BinaryValue []byte  `json:",omitempty"`
}

// sendEntry is a SendMessage input or a SendMessageBatch entry.
type sendEntry struct {
	Id                *string //nolint:revive // the SQS field name
	MessageBody       *string
	DelaySeconds      *int
	MessageAttributes map[string]attrValue
}

func (f *Fake) sendMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		sendEntry
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	maxSize, defDelay, err := f.sendLimits(name)
	if err != nil {
		return nil, err
	}
	msg, _, err := checkEntry(in.sendEntry, maxSize, defDelay)
	if err != nil {
		return nil, err
	}
	ids, err := f.send(r, name, []queue.Outgoing{msg})
	if err != nil {
		return nil, err
	}
	return sendResult{
		MessageId:              ids[0],
		MD5OfMessageBody:       md5Hex([]byte(*in.MessageBody)),
		MD5OfMessageAttributes: attributesMD5(in.MessageAttributes),
	}, nil
}

type sendResult struct {
	Id                     string `json:",omitempty"` //nolint:revive // the SQS field name
	MessageId              string //nolint:revive // the SQS field name
	MD5OfMessageBody       string
	MD5OfMessageAttributes string `json:",omitempty"`
}

func (f *Fake) sendMessageBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		Entries  []sendEntry
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]*string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatchIDs("SendMessageBatch", ids); err != nil {
		return nil, err
	}
	maxSize, defDelay, err := f.sendLimits(name)
	if err != nil {
		return nil, err
	}
	type output struct {
		Successful []sendResult
		Failed     []batchFailure
	}
	out := output{Successful: []sendResult{}, Failed: []batchFailure{}}
	var msgs []queue.Outgoing
	var sent []sendEntry
	total := 0
	for _, e := range in.Entries {
		msg, size, err := checkEntry(e, maxSize, defDelay)
		total += size
		var ae *awsfake.Error
		if errors.As(err, &ae) {
			out.Failed = append(out.Failed, failure(*e.Id, ae))
			continue
		}
		msgs = append(msgs, msg)
		sent = append(sent, e)
	}
	if total > maxBatchBytes {
		return nil, errBatchRequestTooLong(total)
	}
	if len(msgs) > 0 {
		mids, err := f.send(r, name, msgs)
		if err != nil {
			return nil, err
		}
		for i, e := range sent {
			out.Successful = append(out.Successful, sendResult{
				Id:                     *e.Id,
				MessageId:              mids[i],
				MD5OfMessageBody:       md5Hex([]byte(*e.MessageBody)),
				MD5OfMessageAttributes: attributesMD5(e.MessageAttributes),
			})
		}
	}
	return out, nil
}

// sendLimits returns the queue's MaximumMessageSize and DelaySeconds.
func (f *Fake) sendLimits(name string) (maxSize int, delay time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, err := f.metaLocked(name)
	if err != nil {
		return 0, 0, err
	}
	get := func(a string) int {
		v, ok := m.attrs[a]
		if !ok {
			v = attrSpecs[a].def
		}
		n, _ := strconv.Atoi(v)
		return n
	}
	return get("MaximumMessageSize"), time.Duration(get("DelaySeconds")) * time.Second, nil
}

// open opens the queue through the sqlitequeue broker of the request's
// sender: its sends record the sender, and they wake at once the long
// polls made through the same broker (those of other brokers see them
// within Options.PollInterval).
func (f *Fake) open(r *http.Request, name string) (queue.Queue, error) {
	sender, err := f.sender(r)
	if err != nil {
		return nil, err
	}
	b, err := f.broker(sender) //nolint:contextcheck // sqlitequeue.New bounds its table migration itself
	if err != nil {
		return nil, err
	}
	q, err := b.Open(r.Context(), name)
	if err != nil {
		return nil, backendError(err)
	}
	return q, nil
}

// send enqueues msgs through the broker of the request's sender.
func (f *Fake) send(r *http.Request, name string, msgs []queue.Outgoing) ([]string, error) {
	q, err := f.open(r, name)
	if err != nil {
		return nil, err
	}
	ids, err := q.Send(r.Context(), msgs...)
	if err != nil {
		return nil, backendError(err)
	}
	return ids, nil
}

// checkBatchIDs checks the entries and their ids of a batch call.
func checkBatchIDs(op string, ids []*string) error {
	switch {
	case len(ids) == 0:
		return errEmptyBatch(op)
	case len(ids) > queue.MaxBatch:
		return errTooManyEntries(len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if id == nil {
			return errMissingParameter("Id")
		}
		if !validBatchID(*id) {
			return errInvalidBatchEntryID(*id)
		}
		if seen[*id] {
			return errBatchEntryIDsNotDistinct(*id)
		}
		seen[*id] = true
	}
	return nil
}

func validBatchID(id string) bool {
	if id == "" || len(id) > 80 {
		return false
	}
	for _, r := range id {
		if !isAlnum(r) && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// checkEntry validates one message as SQS does and returns it for
// sqlitequeue, with its size as SQS counts it.
func checkEntry(e sendEntry, maxSize int, defDelay time.Duration) (queue.Outgoing, int, error) {
	var out queue.Outgoing
	if e.MessageBody == nil || *e.MessageBody == "" {
		return out, 0, errMissingParameter("MessageBody")
	}
	b := *e.MessageBody
	if c, ok := invalidChar(b); ok {
		return out, 0, apiError(http.StatusBadRequest, "InvalidMessageContents", "InvalidMessageContents",
			"Invalid binary character '#x%X' was found in the message body, the set of allowed characters is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF", c)
	}
	out.Body = []byte(b)
	out.Delay = defDelay
	if e.DelaySeconds != nil {
		d := *e.DelaySeconds
		if d < 0 || d > maxDelaySeconds {
			return out, 0, errInvalidParameterValue("Value %d for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= %d.", d, maxDelaySeconds)
		}
		out.Delay = time.Duration(d) * time.Second
	}
	if len(e.MessageAttributes) > maxMessageAttributes {
		return out, 0, errInvalidParameterValue("Number of message attributes [%d] exceeds the allowed maximum [%d].", len(e.MessageAttributes), maxMessageAttributes)
	}
	size := len(b)
	if len(e.MessageAttributes) > 0 {
		out.Attributes = map[string]string{}
	}
	for k, v := range e.MessageAttributes {
		stored, n, err := checkAttribute(k, v)
		if err != nil {
			return out, 0, err
		}
		out.Attributes[k] = stored
		size += n
	}
	if size > maxSize {
		return out, size, errInvalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxSize)
	}
	return out, size, nil
}

// marker starts an attribute value stored for sqlitequeue with its data
// type: "<marker><type><marker><value>". Values of type String that do
// not start with it are stored as they are.
const marker = "\ue000"

// checkAttribute validates a message attribute and returns how it is
// stored and its size as SQS counts it (name, type and value bytes).
func checkAttribute(name string, v attrValue) (string, int, error) {
	if !validAttrName(name) {
		return "", 0, errInvalidParameterValue("Message (user) attribute name '%s' is invalid: names are 1 to 256 of A-Z a-z 0-9 _ - ., without a leading, trailing or repeated '.', and the AWS. and Amazon. prefixes are reserved.", name)
	}
	base, _, _ := strings.Cut(v.DataType, ".")
	if base != "String" && base != "Number" && base != "Binary" {
		return "", 0, errInvalidParameterValue("The type of message (user) attribute '%s' is invalid. You must use only the following supported type prefixes: Binary, Number, String.", name)
	}
	var value string
	if base == "Binary" {
		if len(v.BinaryValue) == 0 {
			return "", 0, errInvalidParameterValue("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
		}
		stored := marker + v.DataType + marker + base64.StdEncoding.EncodeToString(v.BinaryValue)
		return stored, len(name) + len(v.DataType) + len(v.BinaryValue), nil
	}
	if v.StringValue == nil || *v.StringValue == "" {
		return "", 0, errInvalidParameterValue("Message (user) attribute '%s' must contain a non-empty value of type '%s'.", name, base)
	}
	value = *v.StringValue
	if c, ok := invalidChar(value); ok {
		return "", 0, errInvalidParameterValue("Message (user) attribute '%s' value contains invalid binary character '#x%X'.", name, c)
	}
	if base == "Number" {
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return "", 0, errInvalidParameterValue("Can't cast the value of message (user) attribute '%s' to a number.", name)
		}
	}
	size := len(name) + len(v.DataType) + len(value)
	if v.DataType == "String" && !strings.HasPrefix(value, marker) {
		return value, size, nil
	}
	return marker + v.DataType + marker + value, size, nil
}

// decodeAttribute is the inverse of checkAttribute's storage.
func decodeAttribute(stored string) attrValue {
	rest, ok := strings.CutPrefix(stored, marker)
	if !ok {
		return attrValue{DataType: "String", StringValue: &stored}
	}
	typ, value, _ := strings.Cut(rest, marker)
	if strings.HasPrefix(typ, "Binary") {
		b, _ := base64.StdEncoding.DecodeString(value)
		return attrValue{DataType: typ, BinaryValue: b}
	}
	return attrValue{DataType: typ, StringValue: &value}
}

// invalidChar returns the first character of s SQS refuses.
func invalidChar(s string) (rune, bool) {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return rune(s[i]), true
			}
		}
		ok := r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF ||
			r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
		if !ok {
			return r, true
		}
	}
	return 0, false
}

// validAttrName applies the SQS rules for message attribute names.
func validAttrName(s string) bool {
	if s == "" || len(s) > 256 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return false
	}
	for _, r := range s {
		if !isAlnum(r) && r != '_' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

func md5Hex(b []byte) string {
	sum := md5.Sum(b) //nolint:gosec // SQS's checksum
	return hex.EncodeToString(sum[:])
}

// attributesMD5 is SQS's MD5OfMessageAttributes: over the attributes
// sorted by name, each as the length-prefixed (4 bytes, big-endian) name
// and data type, a transport byte (1 string, 2 binary) and the
// length-prefixed value. "" when there are none.
func attributesMD5(attrs map[string]attrValue) string {
	if len(attrs) == 0 {
		return ""
	}
	var buf []byte
	put := func(b []byte) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(b))) //nolint:gosec // bounded by the size checks
		buf = append(buf, b...)
	}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		v := attrs[k]
		put([]byte(k))
		put([]byte(v.DataType))
		if v.BinaryValue != nil {
			buf = append(buf, 2)
			put(v.BinaryValue)
			continue
		}
		buf = append(buf, 1)
		var s string
		if v.StringValue != nil {
			s = *v.StringValue
		}
		put([]byte(s))
	}
	return md5Hex(buf)
}

// message is a received Message.
type message struct {
	MessageId              string //nolint:revive // the SQS field name
	ReceiptHandle          string
	MD5OfBody              string
	Body                   string
	Attributes             map[string]string    `json:",omitempty"`
	MD5OfMessageAttributes string               `json:",omitempty"`
	MessageAttributes      map[string]attrValue `json:",omitempty"`
}

// System attributes the fake reports.
var systemAttrs = []string{"SenderId", "SentTimestamp", "ApproximateReceiveCount"}

func (f *Fake) receiveMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl                    *string //nolint:revive // the SQS field name
		AttributeNames              []string
		MessageSystemAttributeNames []string
		MessageAttributeNames       []string
		MaxNumberOfMessages         *int
		VisibilityTimeout           *int
		WaitTimeSeconds             *int
		ReceiveRequestAttemptId     string //nolint:revive // the SQS field name
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	opts := queue.ReceiveOptions{Max: 1}
	if n := in.MaxNumberOfMessages; n != nil {
		if *n < 1 || *n > queue.MaxBatch {
			return nil, errInvalidParameterValue("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *n)
		}
		opts.Max = *n
	}
	wait := in.WaitTimeSeconds
	if wait == nil {
		def, ok := f.attr(name, "ReceiveMessageWaitTimeSeconds")
		if !ok {
			return nil, errQueueDoesNotExist()
		}
		n, _ := strconv.Atoi(def)
		wait = &n
	}
	if *wait < 0 || *wait > maxWaitSeconds {
		return nil, errInvalidParameterValue("Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *wait)
	}
	opts.Wait = time.Duration(*wait) * time.Second
	if v := in.VisibilityTimeout; v != nil {
		if *v < 0 || *v > maxVisibilitySeconds {
			return nil, errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *v)
		}
		opts.Visibility = time.Duration(*v) * time.Second
		if *v == 0 {
			opts.Visibility = time.Millisecond // sqlitequeue reads 0 as the queue's default
		}
	}
	q, err := f.open(r, name)
	if err != nil {
		return nil, err
	}
	msgs, err := q.Receive(r.Context(), opts)
	if err != nil {
		return nil, backendError(err)
	}
	sys := map[string]bool{}
	for _, a := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		if a == "All" {
			for _, s := range systemAttrs {
				sys[s] = true
			}
		}
		sys[a] = true
	}
	type output struct {
		Messages []message `json:",omitempty"`
	}
	var out output
	for _, m := range msgs {
		om := message{
			MessageId:     m.ID,
			ReceiptHandle: encodeReceipt(name, m.Receipt),
			MD5OfBody:     md5Hex(m.Body),
			Body:          string(m.Body),
		}
		values := map[string]string{
			"SenderId":                m.SenderID,
			"SentTimestamp":           strconv.FormatInt(m.SentAt.UnixMilli(), 10),
			"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount),
		}
		for _, s := range systemAttrs {
			if sys[s] {
				if om.Attributes == nil {
					om.Attributes = map[string]string{}
				}
				om.Attributes[s] = values[s]
			}
		}
		for k, v := range m.Attributes {
			if wantAttribute(in.MessageAttributeNames, k) {
				if om.MessageAttributes == nil {
					om.MessageAttributes = map[string]attrValue{}
				}
				om.MessageAttributes[k] = decodeAttribute(v)
			}
		}
		om.MD5OfMessageAttributes = attributesMD5(om.MessageAttributes)
		out.Messages = append(out.Messages, om)
	}
	return out, nil
}

// wantAttribute reports whether a MessageAttributeNames list asks for the
// attribute name: "All", ".*", "prefix.*" or the name itself.
func wantAttribute(names []string, name string) bool {
	for _, n := range names {
		if n == "All" || n == ".*" || n == name {
			return true
		}
		if p, ok := strings.CutSuffix(n, ".*"); ok && strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

// encodeReceipt wraps a sqlitequeue receipt into an SQS receipt handle
// that also names the queue.
func encodeReceipt(name, receipt string) string {
	return base64.StdEncoding.EncodeToString([]byte(name + "\n" + receipt))
}

// decodeReceipt unwraps a receipt handle of queue name.
func decodeReceipt(name, handle string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(handle)
	if err != nil {
		return "", false
	}
	q, receipt, ok := strings.Cut(string(b), "\n")
	return receipt, ok && q == name && receipt != ""
}

func (f *Fake) deleteMessage(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl      *string //nolint:revive // the SQS field name
		ReceiptHandle *string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.ReceiptHandle == nil {
		return nil, errMissingParameter("ReceiptHandle")
	}
	receipt, ok := decodeReceipt(name, *in.ReceiptHandle)
	if !ok {
		return nil, errReceiptHandleIsInvalid(*in.ReceiptHandle)
	}
	if err := f.deleteReceipts(r, name, []string{receipt}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// deleteReceipts deletes the messages of well-formed receipts. A stale
// receipt deletes nothing and is no error, as on SQS.
func (f *Fake) deleteReceipts(r *http.Request, name string, receipts []string) error {
	q, err := f.open(r, name)
	if err != nil {
		return err
	}
	err = q.Delete(r.Context(), receipts...)
	var be *queue.BatchError
	if errors.As(err, &be) {
		for _, e := range be.Failed {
			if !errors.Is(e, queue.ErrInvalidReceipt) {
				return backendError(e)
			}
		}
		return nil
	}
	if err != nil {
		return backendError(err)
	}
	return nil
}

type idEntry struct {
	Id string //nolint:revive // the SQS field name
}

func (f *Fake) deleteMessageBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		Entries  []struct {
			Id            *string //nolint:revive // the SQS field name
			ReceiptHandle string
		}
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]*string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatchIDs("DeleteMessageBatch", ids); err != nil {
		return nil, err
	}
	type output struct {
		Successful []idEntry
		Failed     []batchFailure
	}
	out := output{Successful: []idEntry{}, Failed: []batchFailure{}}
	var receipts []string
	for _, e := range in.Entries {
		receipt, ok := decodeReceipt(name, e.ReceiptHandle)
		if !ok {
			out.Failed = append(out.Failed, failure(*e.Id, errReceiptHandleIsInvalid(e.ReceiptHandle)))
			continue
		}
		receipts = append(receipts, receipt)
		out.Successful = append(out.Successful, idEntry{*e.Id})
	}
	if len(receipts) > 0 {
		if err := f.deleteReceipts(r, name, receipts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (f *Fake) changeMessageVisibility(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl          *string //nolint:revive // the SQS field name
		ReceiptHandle     *string
		VisibilityTimeout *int
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	switch {
	case in.ReceiptHandle == nil:
		return nil, errMissingParameter("ReceiptHandle")
	case in.VisibilityTimeout == nil:
		return nil, errMissingParameter("VisibilityTimeout")
	}
	q, err := f.open(r, name)
	if err != nil {
		return nil, err
	}
	if err := changeVisibility(r.Context(), q, name, *in.ReceiptHandle, *in.VisibilityTimeout); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

// changeVisibility changes the visibility of the message of handle.
func changeVisibility(ctx context.Context, q queue.Queue, name, handle string, secs int) *awsfake.Error {
	if secs < 0 || secs > maxVisibilitySeconds {
		return errInvalidParameterValue("Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200.", secs)
	}
	receipt, ok := decodeReceipt(name, handle)
	if !ok {
		return errReceiptHandleIsInvalid(handle)
	}
	err := q.ChangeVisibility(ctx, receipt, time.Duration(secs)*time.Second)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, queue.ErrInvalidReceipt):
		return errReceiptNotAvailable(handle)
	case errors.Is(err, queue.ErrNotFound):
		return errQueueDoesNotExist()
	}
	return &awsfake.Error{Status: http.StatusInternalServerError, Code: "InternalFailure", Message: err.Error()}
}

func (f *Fake) changeMessageVisibilityBatch(r *http.Request, body []byte) (any, error) {
	var in struct {
		QueueUrl *string //nolint:revive // the SQS field name
		Entries  []struct {
			Id                *string //nolint:revive // the SQS field name
			ReceiptHandle     string
			VisibilityTimeout int
		}
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	name, err := f.nameFromURL(in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]*string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatchIDs("ChangeMessageVisibilityBatch", ids); err != nil {
		return nil, err
	}
	q, err := f.open(r, name)
	if err != nil {
		return nil, err
	}
	type output struct {
		Successful []idEntry
		Failed     []batchFailure
	}
	out := output{Successful: []idEntry{}, Failed: []batchFailure{}}
	for _, e := range in.Entries {
		if ae := changeVisibility(r.Context(), q, name, e.ReceiptHandle, e.VisibilityTimeout); ae != nil {
			if ae.Status >= http.StatusInternalServerError || strings.HasSuffix(ae.Code, "#QueueDoesNotExist") {
				return nil, ae
			}
			out.Failed = append(out.Failed, failure(*e.Id, ae))
			continue
		}
		out.Successful = append(out.Successful, idEntry{*e.Id})
	}
	return out, nil
}
