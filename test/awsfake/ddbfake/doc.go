// Package ddbfake is an in-memory, HTTP-level fake of Amazon DynamoDB for
// tests: it speaks the awsJson1_0 protocol (X-Amz-Target
// DynamoDB_20120810.*) on an awsfake.Server, so the real aws-sdk-go-v2
// DynamoDB client, its retryer and its error mapping run end to end.
//
// It implements CreateTable, DescribeTable, DeleteTable, PutItem, GetItem,
// UpdateItem, DeleteItem and Query over tables with a hash key and an
// optional range key, with AWS's request and response shapes, attribute
// values in AWS's JSON shape ({"S": "x"}, {"N": "12"}, ...) and AWS's error
// codes (ValidationException, ConditionalCheckFailedException,
// ResourceNotFoundException, ResourceInUseException).
//
// Expressions are parsed and evaluated honestly for the subset it
// implements: condition and filter expressions with = <> < <= > >=,
// BETWEEN, AND, OR, NOT, parentheses, attribute_exists,
// attribute_not_exists and begins_with; key conditions (hash key equality
// AND one sort-key comparison, BETWEEN or begins_with); update expressions
// with one SET clause of "path = operand" assignments. Placeholders
// (#name, :value) must be defined and every one provided must be used,
// bare attribute names may not be DynamoDB reserved words, and syntax the
// fake does not implement (nested paths, IN, size, arithmetic, REMOVE/ADD/
// DELETE clauses, secondary indexes, projections, legacy parameters) is
// answered with a ValidationException saying so — never evaluated as true.
//
// Guarantees and limits: one mutex serialises every operation, so the fake
// is linearizable and every read is strongly consistent (ConsistentRead is
// accepted and changes nothing). Tables can be made to stay CREATING for a
// number of DescribeTable calls (Options.CreatingDescribes), during which
// item operations answer ResourceNotFoundException as DynamoDB does;
// DeleteTable removes a table at once. There is no throttling of its own
// (inject it with awsfake.Server.Hook or awsx.FaultTransport), no item size
// or 1 MB page limit, no TTL, streams or transactions.
package ddbfake
