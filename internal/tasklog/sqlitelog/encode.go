package sqlitelog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

// The encoding of a batch's lines: a version byte, then per line its seq
// (uvarint), time in Unix milliseconds (varint), flags (uvarint), the
// text (uvarint length, bytes), and, as the flags say, its event id and
// its end record's JSON (each a uvarint length and bytes). Lines are in
// seq order.
const (
	batchV1 = 1

	flagID  = 1 << 0
	flagEnd = 1 << 1
)

var errCorrupt = errors.New("corrupt batch")

// encodeLines encodes lines (in seq order) as a batch.
func encodeLines(lines []schemas.LogLine) ([]byte, error) {
	size := 1
	for i := range lines {
		size += 3*binary.MaxVarintLen64 + len(lines[i].Text) + len(lines[i].ID)
	}
	b := make([]byte, 0, size)
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
// out. The texts are slices of one string of the batch's bytes: one
// allocation per batch, not one per line.
func decodeLines(data []byte, after int64, out []schemas.LogLine) ([]schemas.LogLine, error) {
	if len(data) == 0 || data[0] != batchV1 {
		return out, fmt.Errorf("%w: unknown encoding", errCorrupt)
	}
	all := string(data[1:])
	d := decoder{b: data[1:], n: len(data) - 1}
	for len(d.b) > 0 && d.err == nil {
		seq := d.uvarint()
		ms := d.varint()
		flags := d.uvarint()
		text := d.field()
		var id, end span
		if flags&flagID != 0 {
			id = d.field()
		}
		if flags&flagEnd != 0 {
			end = d.field()
		}
		if d.err != nil {
			break
		}
		if seq > math.MaxInt64 {
			return out, fmt.Errorf("%w: seq %d", errCorrupt, seq)
		}
		if int64(seq) <= after {
			continue
		}
		ln := schemas.LogLine{Seq: int64(seq), Time: time.UnixMilli(ms).UTC(), Text: all[text.from:text.to], ID: all[id.from:id.to]}
		if flags&flagEnd != 0 {
			ln.End = new(schemas.LogEnd)
			if err := json.Unmarshal(data[1+end.from:1+end.to], ln.End); err != nil {
				return out, fmt.Errorf("%w: line %d: decoding the end record: %w", errCorrupt, seq, err)
			}
		}
		out = append(out, ln)
	}
	if d.err != nil {
		return out, d.err
	}
	return out, nil
}

// span is a field's place in a batch, its encoding's version byte left out.
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
