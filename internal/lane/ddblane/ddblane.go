package ddblane

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/lane"
)

// Attribute names of the lease items.
const (
	AttrLane      = "lane"       // partition key (S)
	AttrSlot      = "slot"       // sort key (N), 0..limit-1
	AttrHolder    = "holder"     // S
	AttrExpiresAt = "expires_at" // N, Unix milliseconds
)

// Options tune the adapter.
type Options struct {
	// Table is the DynamoDB table holding the leases. Required.
	Table string
	// Now returns the current time; leases are judged by it. Defaults to
	// time.Now.
	Now func() time.Time
	// EnsureTimeout bounds how long EnsureTable waits for the table to
	// turn ACTIVE. Defaults to 2 minutes.
	EnsureTimeout time.Duration
}

// Limiter is the DynamoDB lane adapter. It is safe for concurrent use.
type Limiter struct {
	client  *dynamodb.Client
	table   string
	now     func() time.Time
	timeout time.Duration

	mu    sync.Mutex
	slots map[slotKey]int // last slot each holder took through this Limiter
}

type slotKey struct{ lane, holder string }

var _ lane.Limiter = (*Limiter)(nil)

// New returns the adapter over client and opts.Table. It makes no calls;
// EnsureTable creates the table where it is missing.
func New(client *dynamodb.Client, opts Options) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("ddblane: no DynamoDB client")
	}
	if opts.Table == "" {
		return nil, errors.New("ddblane: no table")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EnsureTimeout <= 0 {
		opts.EnsureTimeout = 2 * time.Minute
	}
	return &Limiter{client: client, table: opts.Table, now: opts.Now, timeout: opts.EnsureTimeout, slots: map[slotKey]int{}}, nil
}

// Table returns the name of the lease table.
func (l *Limiter) Table() string { return l.table }

// wrap adds what was being done to err and names the table when it does
// not exist. Throttling stays recognisable by awsx.Throttled through the
// wrapping.
func (l *Limiter) wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if awsx.HasCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("%s: DynamoDB table %q does not exist or is not ACTIVE (create it with Terraform or deployer up): %w", what, l.table, err)
	}
	return fmt.Errorf("%s in DynamoDB table %q: %w", what, l.table, err)
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

func check(ln, holder string, ttl time.Duration) error {
	switch {
	case ln == "":
		return errors.New("no lane")
	case holder == "":
		return errors.New("no holder")
	case ttl <= 0:
		return fmt.Errorf("ttl %s is not positive", ttl)
	}
	return nil
}

// lease is one slot item.
type lease struct {
	slot      int
	holder    string
	expiresAt int64 // Unix ms
}

// leases reads every slot item of the lane with a strongly consistent
// Query.
func (l *Limiter) leases(ctx context.Context, ln string) ([]lease, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(l.table),
		KeyConditionExpression:    aws.String("#lane = :lane"),
		ExpressionAttributeNames:  map[string]string{"#lane": AttrLane},
		ExpressionAttributeValues: map[string]types.AttributeValue{":lane": &types.AttributeValueMemberS{Value: ln}},
		ConsistentRead:            aws.Bool(true),
	}
	var out []lease
	p := dynamodb.NewQueryPaginator(l.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			ls, err := parseLease(it)
			if err != nil {
				return nil, fmt.Errorf("lane %q: %w", ln, err)
			}
			out = append(out, ls)
		}
	}
	return out, nil
}

func parseLease(it map[string]types.AttributeValue) (lease, error) {
	var ls lease
	slot, ok := it[AttrSlot].(*types.AttributeValueMemberN)
	if !ok {
		return ls, fmt.Errorf("lease item without a numeric %s", AttrSlot)
	}
	n, err := strconv.Atoi(slot.Value)
	if err != nil {
		return ls, fmt.Errorf("lease item with %s %q: %w", AttrSlot, slot.Value, err)
	}
	ls.slot = n
	if h, ok := it[AttrHolder].(*types.AttributeValueMemberS); ok {
		ls.holder = h.Value
	}
	if e, ok := it[AttrExpiresAt].(*types.AttributeValueMemberN); ok {
		if ls.expiresAt, err = strconv.ParseInt(e.Value, 10, 64); err != nil {
			return ls, fmt.Errorf("lease item with %s %q: %w", AttrExpiresAt, e.Value, err)
		}
	}
	return ls, nil
}

func key(ln string, slot int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrLane: &types.AttributeValueMemberS{Value: ln},
		AttrSlot: &types.AttributeValueMemberN{Value: strconv.Itoa(slot)},
	}
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Acquire takes one of the lane's limit slots for holder until now+ttl,
// or renews the holder's live lease. It reports false when the lane is
// full. A lease in a slot at or above limit (the limit was lowered) does
// not count: its holder is moved to a free slot below limit, or loses
// that lease and gets false. A limit below 1 is an error.
func (l *Limiter) Acquire(ctx context.Context, ln string, limit int, holder string, ttl time.Duration) (bool, error) {
	if err := check(ln, holder, ttl); err != nil {
		return false, fmt.Errorf("acquiring lane %q: %w", ln, err)
	}
	if limit < 1 {
		return false, fmt.Errorf("acquiring lane %q: limit %d is below 1", ln, limit)
	}
	all, err := l.leases(ctx, ln)
	if err != nil {
		return false, l.wrap(err, "acquiring lane %q for %s", ln, holder)
	}
	now := l.now()
	nowMs := now.UnixMilli()
	expires := now.Add(ttl).UnixMilli()
	taken := make([]bool, limit)
	stray := -1 // the holder's live lease in a slot >= limit
	for _, ls := range all {
		live := ls.expiresAt > nowMs
		if ls.holder == holder && live {
			if ls.slot >= limit {
				stray = ls.slot
				continue
			}
			ok, err := l.extend(ctx, ln, ls.slot, holder, expires, nowMs, false)
			if err != nil {
				return false, l.wrap(err, "renewing lane %q lease of %s", ln, holder)
			}
			if ok {
				l.remember(ln, holder, ls.slot)
				return true, nil
			}
			// Lost it since the Query: look for another slot.
		}
		if live && ls.slot < limit {
			taken[ls.slot] = true
		}
	}
	var free []int
	for s, t := range taken {
		if !t {
			free = append(free, s)
		}
	}
	got := -1
	if len(free) > 0 {
		first := rand.IntN(len(free)) //nolint:gosec // spreads contention; no security role
		for i := range free {
			s := free[(first+i)%len(free)]
			ok, err := l.take(ctx, ln, s, holder, expires, nowMs)
			if err != nil {
				return false, l.wrap(err, "acquiring lane %q slot %d for %s", ln, s, holder)
			}
			if ok {
				got = s
				break
			}
		}
	}
	if stray >= 0 {
		if err := l.remove(ctx, ln, stray, holder); err != nil {
			return false, l.wrap(err, "releasing lane %q slot %d of %s above limit %d", ln, stray, holder, limit)
		}
	}
	if got < 0 {
		return false, nil
	}
	l.remember(ln, holder, got)
	return true, nil
}

// take puts holder's lease into slot s if it is free (missing or
// expired). The slot being holder's already also passes, so that the SDK
// retrying a PutItem whose answer was lost does not fail on its own
// first attempt and send holder on to take a second slot.
func (l *Limiter) take(ctx context.Context, ln string, s int, holder string, expires, nowMs int64) (bool, error) {
	item := key(ln, s)
	item[AttrHolder] = &types.AttributeValueMemberS{Value: holder}
	item[AttrExpiresAt] = num(expires)
	_, err := l.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(l.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#lane) OR #exp <= :now OR #holder = :h"),
		ExpressionAttributeNames: map[string]string{"#lane": AttrLane, "#exp": AttrExpiresAt, "#holder": AttrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(nowMs),
			":h":   &types.AttributeValueMemberS{Value: holder},
		},
	})
	if conditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// extend sets the expiry of holder's lease in slot s, if holder still
// has it (and, when live is set, it has not expired).
func (l *Limiter) extend(ctx context.Context, ln string, s int, holder string, expires, nowMs int64, live bool) (bool, error) {
	cond := "#holder = :h"
	vals := map[string]types.AttributeValue{
		":h":   &types.AttributeValueMemberS{Value: holder},
		":exp": num(expires),
	}
	if live {
		cond += " AND #exp > :now"
		vals[":now"] = num(nowMs)
	}
	_, err := l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(ln, s),
		UpdateExpression:          aws.String("SET #exp = :exp"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#holder": AttrHolder, "#exp": AttrExpiresAt},
		ExpressionAttributeValues: vals,
	})
	if conditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// remove deletes holder's lease in slot s, if holder has it.
func (l *Limiter) remove(ctx context.Context, ln string, s int, holder string) error {
	_, err := l.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.table),
		Key:                       key(ln, s),
		ConditionExpression:       aws.String("#holder = :h"),
		ExpressionAttributeNames:  map[string]string{"#holder": AttrHolder},
		ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: holder}},
	})
	if conditionFailed(err) {
		return nil
	}
	return err
}

func (l *Limiter) remember(ln, holder string, slot int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slots[slotKey{ln, holder}] = slot
}

func (l *Limiter) forget(ln, holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.slots, slotKey{ln, holder})
}

func (l *Limiter) cached(ln, holder string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.slots[slotKey{ln, holder}]
	return s, ok
}

// Renew extends the holder's live lease to now+ttl; lane.ErrNotHeld when
// it has none. The slot remembered from Acquire is tried first, with one
// conditional UpdateItem; otherwise the lane is queried.
func (l *Limiter) Renew(ctx context.Context, ln, holder string, ttl time.Duration) error {
	if err := check(ln, holder, ttl); err != nil {
		return fmt.Errorf("renewing lane %q lease: %w", ln, err)
	}
	now := l.now()
	nowMs, expires := now.UnixMilli(), now.Add(ttl).UnixMilli()
	if s, ok := l.cached(ln, holder); ok {
		ok, err := l.extend(ctx, ln, s, holder, expires, nowMs, true)
		if err != nil {
			return l.wrap(err, "renewing lane %q lease of %s", ln, holder)
		}
		if ok {
			return nil
		}
		l.forget(ln, holder)
	}
	all, err := l.leases(ctx, ln)
	if err != nil {
		return l.wrap(err, "renewing lane %q lease of %s", ln, holder)
	}
	for _, ls := range all {
		if ls.holder != holder || ls.expiresAt <= nowMs {
			continue
		}
		ok, err := l.extend(ctx, ln, ls.slot, holder, expires, nowMs, true)
		if err != nil {
			return l.wrap(err, "renewing lane %q lease of %s", ln, holder)
		}
		if ok {
			l.remember(ln, holder, ls.slot)
			return nil
		}
	}
	return fmt.Errorf("renewing lane %q lease of %s: %w", ln, holder, lane.ErrNotHeld)
}

// Release gives the holder's slot back (every slot of the lane it has,
// live or expired); releasing a lease not held is a no-op.
func (l *Limiter) Release(ctx context.Context, ln, holder string) error {
	if ln == "" || holder == "" {
		return fmt.Errorf("releasing lane %q lease: %w", ln, check(ln, holder, time.Second))
	}
	l.forget(ln, holder)
	all, err := l.leases(ctx, ln)
	if err != nil {
		return l.wrap(err, "releasing lane %q lease of %s", ln, holder)
	}
	for _, ls := range all {
		if ls.holder != holder {
			continue
		}
		if err := l.remove(ctx, ln, ls.slot, holder); err != nil {
			return l.wrap(err, "releasing lane %q slot %d of %s", ln, ls.slot, holder)
		}
	}
	return nil
}

// Transfer hands from's live lease to holder to until now+ttl: one
// UpdateItem rewrites the holder of from's slot, conditioned on from still
// holding it live, so the lane's count never changes. When to holds a live
// lease already, that is renewed and from's released instead.
// lane.ErrNotHeld when from holds no live lease. Two Transfers to one
// holder at the same moment may leave it two slots: the lane then counts
// one more than runs, never one less, until Release (which frees every
// slot of a holder) or expiry.
func (l *Limiter) Transfer(ctx context.Context, ln, from, to string, ttl time.Duration) error {
	if err := errors.Join(check(ln, from, ttl), check(ln, to, ttl)); err != nil {
		return fmt.Errorf("transferring lane %q lease: %w", ln, err)
	}
	all, err := l.leases(ctx, ln)
	if err != nil {
		return l.wrap(err, "transferring lane %q lease of %s to %s", ln, from, to)
	}
	now := l.now()
	nowMs, expires := now.UnixMilli(), now.Add(ttl).UnixMilli()
	fromSlot, toSlot := -1, -1
	for _, ls := range all {
		switch {
		case ls.expiresAt <= nowMs:
		case ls.holder == from && fromSlot < 0:
			fromSlot = ls.slot
		case ls.holder == to && toSlot < 0:
			toSlot = ls.slot
		}
	}
	if fromSlot < 0 {
		return fmt.Errorf("transferring lane %q lease of %s to %s: %w", ln, from, to, lane.ErrNotHeld)
	}
	if toSlot >= 0 && from != to {
		ok, err := l.extend(ctx, ln, toSlot, to, expires, nowMs, true)
		if err != nil {
			return l.wrap(err, "renewing lane %q lease of %s", ln, to)
		}
		if ok {
			l.remember(ln, to, toSlot)
			if err := l.Release(ctx, ln, from); err != nil {
				return fmt.Errorf("transferring lane %q lease of %s to %s: %w", ln, from, to, err)
			}
			return nil
		}
		// to lost its lease since the Query: take from's slot instead.
	}
	_, err = l.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(l.table),
		Key:              key(ln, fromSlot),
		UpdateExpression: aws.String("SET #holder = :to, #exp = :exp"),
		// to passes too, so that the SDK retrying an UpdateItem whose
		// answer was lost does not fail on its own first attempt.
		ConditionExpression:      aws.String("(#holder = :from OR #holder = :to) AND #exp > :now"),
		ExpressionAttributeNames: map[string]string{"#holder": AttrHolder, "#exp": AttrExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":from": &types.AttributeValueMemberS{Value: from},
			":to":   &types.AttributeValueMemberS{Value: to},
			":exp":  num(expires),
			":now":  num(nowMs),
		},
	})
	if conditionFailed(err) {
		l.forget(ln, from)
		return fmt.Errorf("transferring lane %q lease of %s to %s: %w", ln, from, to, lane.ErrNotHeld)
	}
	if err != nil {
		return l.wrap(err, "transferring lane %q slot %d of %s to %s", ln, fromSlot, from, to)
	}
	l.forget(ln, from)
	l.remember(ln, to, fromSlot)
	return nil
}

// Leases lists the lane's live leases (one strongly consistent Query),
// by slot.
func (l *Limiter) Leases(ctx context.Context, ln string) ([]lane.Lease, error) {
	if ln == "" {
		return nil, errors.New("listing lane leases: no lane")
	}
	all, err := l.leases(ctx, ln)
	if err != nil {
		return nil, l.wrap(err, "listing lane %q leases", ln)
	}
	nowMs := l.now().UnixMilli()
	var out []lane.Lease
	for _, ls := range all {
		if ls.expiresAt > nowMs && ls.holder != "" {
			out = append(out, lane.Lease{Holder: ls.holder, Expires: time.UnixMilli(ls.expiresAt)})
		}
	}
	return out, nil
}

// EnsureTable creates the lease table (on-demand billing, key lane/slot)
// if it is missing, and waits, polling DescribeTable, until it is ACTIVE
// or Options.EnsureTimeout passes. An existing table with another key
// schema is an error. Production tables come from Terraform; this serves
// tests and deployer up --backend aws.
func (l *Limiter) EnsureTable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	desc, err := l.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(l.table)})
	switch {
	case awsx.HasCode(err, "ResourceNotFoundException"):
		_, err = l.client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:   aws.String(l.table),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(AttrLane), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(AttrSlot), AttributeType: types.ScalarAttributeTypeN},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(AttrLane), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(AttrSlot), KeyType: types.KeyTypeRange},
			},
		})
		if err != nil && !awsx.HasCode(err, "ResourceInUseException") { // created meanwhile by another
			return fmt.Errorf("creating DynamoDB table %q: %w", l.table, err)
		}
	case err != nil:
		return fmt.Errorf("describing DynamoDB table %q: %w", l.table, err)
	default:
		if err := checkSchema(desc.Table); err != nil {
			return fmt.Errorf("DynamoDB table %q: %w", l.table, err)
		}
	}
	delay := 50 * time.Millisecond
	for {
		desc, err := l.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(l.table)})
		if err != nil && !awsx.HasCode(err, "ResourceNotFoundException") {
			return fmt.Errorf("waiting for DynamoDB table %q: %w", l.table, err)
		}
		if err == nil && desc.Table.TableStatus == types.TableStatusActive {
			if err := checkSchema(desc.Table); err != nil {
				return fmt.Errorf("DynamoDB table %q: %w", l.table, err)
			}
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for DynamoDB table %q to be ACTIVE: %w", l.table, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func checkSchema(t *types.TableDescription) error {
	var hash, rng string
	for _, k := range t.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash != AttrLane || rng != AttrSlot {
		return fmt.Errorf("key schema is %q/%q, want %q (S) / %q (N)", hash, rng, AttrLane, AttrSlot)
	}
	return nil
}

// DeleteTable deletes the lease table; a missing table is not an error.
// For tests.
func (l *Limiter) DeleteTable(ctx context.Context) error {
	_, err := l.client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(l.table)})
	if err != nil && !awsx.HasCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("deleting DynamoDB table %q: %w", l.table, err)
	}
	return nil
}
