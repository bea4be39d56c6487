// tap coverage map: every test is measured against every file it loads (tap leaves out the test
// files themselves and node_modules), spawned servers included; make test then holds reactor/,
// lib/ and bench/ each to its own thresholds (scripts/coverage-check.mjs).
export default () => []
