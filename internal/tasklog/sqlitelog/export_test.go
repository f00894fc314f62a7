package sqlitelog

import "github.com/deployerhq/deployer/schemas"

// EncodeLines is encodeLines.
var EncodeLines = encodeLines

// DecodeLines decodes every line of a batch.
func DecodeLines(data []byte, after int64) ([]schemas.LogLine, error) {
	return decodeLines(data, after, nil)
}
