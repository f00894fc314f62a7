package sqlitelog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/klauspost/compress/s2"

	"github.com/deployerhq/deployer/schemas"
)

// The encoding of a batch's lines: a version byte, then the body. In
// batchV1 the body is, per line, its seq (uvarint), time in Unix
// milliseconds (varint), flags (uvarint), the text (uvarint length,
// bytes), and, as the flags say, its event id and its end record's JSON
// (each a uvarint length and bytes). Lines are in seq order. In batchV2
// the body is batchV1's, compressed as one S2 block.
const (
	batchV1 = 1
	batchV2 = 2

	flagID  = 1 << 0
	flagEnd = 1 << 1
)

// maxBody bounds a batch's body, well above what a supervisor stores in
// one (local.FlushBytes of text, and one line of up to
// schemas.MaxLineBytes past it): encodeLines refuses a larger one, and a
// damaged batchV2 that says it decompresses to more is refused before a
// reader allocates it.
const maxBody = 64 << 20

var errCorrupt = errors.New("corrupt batch")

// encodeLines encodes lines (in seq order) as a batch: compressed
// (batchV2) unless that is no smaller.
//
// Compression is for the writes, not the disk: a task's output is mostly
// alike lines (a plan's resources, a build's steps), several times
// smaller compressed, and SQLite writes each byte twice (to the WAL, then
// to the database at the checkpoint), a page at a time. S2 compresses at
// gigabytes a second; what it saves in pages written is worth tens of
// times more.
func encodeLines(lines []schemas.LogLine) ([]byte, error) {
	plain, packed := scratch.Get().(*[]byte), scratch.Get().(*[]byte)
	defer putScratch(plain)
	defer putScratch(packed)
	var err error
	if *plain, err = appendPlain((*plain)[:0], lines); err != nil {
		return nil, err
	}
	body := (*plain)[1:]
	if len(body) > maxBody {
		return nil, fmt.Errorf("a batch of %d bytes, over the %d a batch holds", len(body), maxBody)
	}
	if n := s2.MaxEncodedLen(len(body)); cap(*packed) < n {
		*packed = make([]byte, n)
	}
	enc := s2.Encode((*packed)[:cap(*packed)], body)
	if 1+len(enc) >= len(*plain) {
		return bytes.Clone(*plain), nil
	}
	return append([]byte{batchV2}, enc...), nil
}

// scratch holds the buffers encodeLines encodes into before it makes its
// result: a supervisor storing lines as fast as a script writes them
// would otherwise make two batches' worth of garbage per batch.
var scratch = sync.Pool{New: func() any { return new([]byte) }}

// putScratch returns a buffer to scratch, unless it grew too large to
// keep around.
func putScratch(b *[]byte) {
	if cap(*b) <= 4<<20 {
		scratch.Put(b)
	}
}

// appendPlain appends lines encoded as a batchV1 to b.
func appendPlain(b []byte, lines []schemas.LogLine) ([]byte, error) {
	size := 1
	for i := range lines {
		size += 3*binary.MaxVarintLen64 + len(lines[i].Text) + len(lines[i].ID)
	}
	b = slices.Grow(b, size)
	b = append(b, batchV1)
	for i := range lines {
		ln := &lines[i]
		var flags uint64
		var end []byte
		if ln.ID != "" {
			flags |= flagID
		}
		if ln.End != nil {
			var err error
			if end, err = json.Marshal(ln.End); err != nil {
				return nil, fmt.Errorf("encoding the end record: %w", err)
			}
			flags |= flagEnd
		}
		b = binary.AppendUvarint(b, uint64(ln.Seq)) //nolint:gosec // Append refuses a seq below 1
		b = binary.AppendVarint(b, ln.Time.UnixMilli())
		b = binary.AppendUvarint(b, flags)
		b = binary.AppendUvarint(b, uint64(len(ln.Text)))
		b = append(b, ln.Text...)
		if flags&flagID != 0 {
			b = binary.AppendUvarint(b, uint64(len(ln.ID)))
			b = append(b, ln.ID...)
		}
		if flags&flagEnd != 0 {
			b = binary.AppendUvarint(b, uint64(len(end)))
			b = append(b, end...)
		}
	}
	return b, nil
}

// decodeLines appends the lines of batch data with seq above after to
// out, until out holds limit lines; on an error, none of the batch's. The
// texts are slices of one string: a compressed batch's own decompressed
// buffer, or a copy of the bytes of the lines kept of a stored one (one
// allocation per batch, not one per line, and none for the lines of a
// batch a Read does not reach).
func decodeLines(data []byte, after int64, limit int, out []schemas.LogLine) ([]schemas.LogLine, error) {
	body, owned, err := batchBody(data)
	if err != nil || len(body) == 0 {
		return out, err
	}
	var all string
	if owned {
		// Decompressed into a buffer of its own, that nothing else
		// holds or changes: the lines' strings can share it.
		all = unsafe.String(&body[0], len(body)) //nolint:gosec // a buffer nothing else holds or changes
	} else {
		// First the extent of the lines kept, then their bytes as one
		// string.
		end, err := keptExtent(body, after, limit-len(out))
		if err != nil || end == 0 {
			return out, err
		}
		body = body[:end]
		all = string(body)
	}
	d, kept := decoder{b: body, n: len(body)}, len(out)
	for len(d.b) > 0 && len(out) < limit {
		e, err := d.entry()
		if err != nil {
			return out[:kept], err
		}
		if e.seq <= after {
			continue
		}
		ln := schemas.LogLine{Seq: e.seq, Time: time.UnixMilli(e.ms).UTC(), Text: all[e.text.from:e.text.to], ID: all[e.id.from:e.id.to]}
		if e.end.to > 0 {
			ln.End = new(schemas.LogEnd)
			if err := json.Unmarshal(body[e.end.from:e.end.to], ln.End); err != nil {
				return out[:kept], fmt.Errorf("%w: line %d: decoding the end record: %w", errCorrupt, e.seq, err)
			}
		}
		out = append(out, ln)
	}
	return out, nil
}

// keptExtent returns where, in body, the keep lines after after end: 0
// when it holds none.
func keptExtent(body []byte, after int64, keep int) (int, error) {
	d, end := decoder{b: body, n: len(body)}, 0
	for len(d.b) > 0 && keep > 0 {
		e, err := d.entry()
		if err != nil {
			return 0, err
		}
		if e.seq > after {
			keep--
			end = d.n - len(d.b)
		}
	}
	return end, nil
}

// batchBody returns the body of batch data, decompressed; owned when it
// is a new buffer rather than part of data.
func batchBody(data []byte) (body []byte, owned bool, err error) {
	if len(data) == 0 {
		return nil, false, fmt.Errorf("%w: empty", errCorrupt)
	}
	switch data[0] {
	case batchV1:
		return data[1:], false, nil
	case batchV2:
		n, err := s2.DecodedLen(data[1:])
		switch {
		case err != nil:
			return nil, false, fmt.Errorf("%w: %w", errCorrupt, err)
		case n > maxBody:
			return nil, false, fmt.Errorf("%w: says it holds %d bytes", errCorrupt, n)
		}
		body, err := s2.Decode(make([]byte, n), data[1:])
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return body, true, nil
	}
	return nil, false, fmt.Errorf("%w: unknown encoding %d (written by a later version?)", errCorrupt, data[0])
}

// entry is one line of a batch, its fields' places in the batch.
type entry struct {
	seq           int64
	ms            int64
	text, id, end span // end.to is 0 for a line that is not the end record
}

// entry reads the next line's fields.
func (d *decoder) entry() (entry, error) {
	seq := d.uvarint()
	ms := d.varint()
	flags := d.uvarint()
	e := entry{ms: ms, text: d.field()}
	if flags&flagID != 0 {
		e.id = d.field()
	}
	if flags&flagEnd != 0 {
		e.end = d.field()
		if d.err == nil && e.end.to == 0 {
			d.err = fmt.Errorf("%w: an empty end record", errCorrupt)
		}
	}
	if d.err != nil {
		return entry{}, d.err
	}
	if seq > math.MaxInt64 {
		return entry{}, fmt.Errorf("%w: seq %d", errCorrupt, seq)
	}
	e.seq = int64(seq)
	return e, nil
}

// span is a field's place in a batch's body.
type span struct{ from, to int }

// decoder reads a batch's fields, remembering the first error.
type decoder struct {
	b   []byte // what is left
	n   int    // the length of the whole
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated number", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated number", errCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// field reads a length and the bytes that follow, and returns where they
// are.
func (d *decoder) field() span {
	n := d.uvarint()
	if d.err != nil {
		return span{}
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: a field of %d bytes with %d left", errCorrupt, n, len(d.b))
		return span{}
	}
	from := d.n - len(d.b)
	d.b = d.b[n:]
	return span{from: from, to: from + int(n)} //nolint:gosec // n is at most len(d.b)
}
