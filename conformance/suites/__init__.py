"""The card conformance catalogue (run with `mynasim card-check`, or
`pytest --pyargs conformance.suites --card-target ...`)."""
