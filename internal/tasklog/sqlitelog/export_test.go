package sqlitelog

import (
	"math"

	"github.com/deployerhq/deployer/schemas"
)

// MaxBody is maxBody.
const MaxBody = maxBody

// ErrCorrupt is errCorrupt.
var ErrCorrupt = errCorrupt

// EncodeLines is encodeLines.
var EncodeLines = encodeLines

// DecodeLines decodes every line of a batch.
func DecodeLines(data []byte, after int64) ([]schemas.LogLine, error) {
	return decodeLines(data, after, math.MaxInt, nil)
}

// DecodeLinesUpTo decodes the lines of a batch after after until it has
// limit.
func DecodeLinesUpTo(data []byte, after int64, limit int) ([]schemas.LogLine, error) {
	return decodeLines(data, after, limit, nil)
}
