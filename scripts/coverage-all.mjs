// tap coverage map for `make coverage`: measure everything a test loads.
export default () => []
