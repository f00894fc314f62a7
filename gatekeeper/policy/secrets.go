package policy

import "github.com/deployerhq/deployer/internal/task/secretref"

// checkSecretRef validates the syntax of a secret reference with the
// rules of the task that resolves it (secretref.Check). It never repeats
// the reference: a value pasted by mistake must not end up in logs.
func checkSecretRef(ref string) error {
	return secretref.Check(ref)
}
