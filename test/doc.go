// Package test holds deployer's end-to-end and fault tests. They build the
// real binaries once (TestMain) and drive them as a user and CI would:
// separate processes sharing a state directory, with configurations and
// scripts written by the tests themselves.
//
// The Lambda tests run the gatekeeper's and the logshipper's packages,
// built as "make lambda" builds them (for this machine's architecture),
// under the AWS Lambda Runtime Interface Emulator: $DEPLOYER_TEST_RIE, else
// aws-lambda-rie on PATH, else the version rieModule pins, installed
// through the Go module proxy. With DEPLOYER_TEST_AWS_ENDPOINT naming an
// emulator of AWS (moto in .ci/run), the Lambda path's SQS, CloudWatch
// Logs and DynamoDB are the emulator's instead of the AWS fakes'.
package test
