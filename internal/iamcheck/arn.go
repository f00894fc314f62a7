package iamcheck

import "strings"

// arn is an ARN's parts.
type arn struct {
	partition, service, region, account, resource string
}

func parseARN(s string) (arn, bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[5] == "" {
		return arn{}, false
	}
	return arn{partition: p[1], service: p[2], region: p[3], account: p[4], resource: p[5]}, true
}

// name is the IAM name in the resource: the last element of
// role/PATH/NAME and user/PATH/NAME; the role of
// assumed-role/ROLE/SESSION.
func (a arn) name() string {
	if rest, ok := strings.CutPrefix(a.resource, "assumed-role/"); ok {
		role, _, _ := strings.Cut(rest, "/")
		return role
	}
	return a.resource[strings.LastIndex(a.resource, "/")+1:]
}
