package policy

import "github.com/deployerhq/deployer/internal/task/secret"

// checkSecretRef validates the syntax of a secret reference with the
// rules of the task that resolves it (secret.Check). It never repeats the
// reference: a value pasted by mistake must not end up in logs.
func checkSecretRef(ref string) error {
	return secret.Check(ref)
}
