// Package iamcheck checks, statically, that the IAM policies of an AWS
// deployment's principals — the gatekeeper's, the worker's and the
// logshipper's roles, and the caller — grant every right their code
// needs. "deployer doctor" runs it: a missing right fails the check
// (permission_missing) even on an emulator that does not enforce IAM,
// and before a job finds out the hard way.
//
// Three parts:
//
//   - an IAM policy evaluator (Parse, Evaluate): identity policies with
//     Statement as one object or a list, Allow and Deny (an explicit Deny
//     wins), Action/NotAction (case-insensitive), Resource/NotResource
//     (case-sensitive), '*' and '?' as IAM matches them, and the String,
//     Arn, Bool and Null condition operators with their IfExists forms.
//     What it cannot decide (other operators, policy variables, global
//     keys the request does not state) is Undecided, never Allowed;
//   - the rights each principal needs (Required), one list for the whole
//     project: docs/aws.md's table is generated from it, and the tests
//     compare it with every AWS call the components make on the emulator
//     and with the Terraform modules' policies;
//   - a Checker that reads the principals' policies over the IAM API
//     (inline, attached, a user's groups', permissions boundaries) and
//     returns Findings: missing (a right not granted or denied, a role
//     that does not exist), limited (an optional right), skipped (what
//     it could not read or decide, with the IAM read permission that
//     would let it). Every call has a deadline.
//
// It sees identity policies and permissions boundaries only: service
// control policies, session policies and resource policies can still
// deny what it finds allowed.
package iamcheck
