package gatekeeper

// Permanent exposes permanent to the classification table test.
var Permanent = permanent
