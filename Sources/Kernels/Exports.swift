/// The layer geometry types are the planner's and the kernels' shared vocabulary; code that calls
/// kernels (the generated models, tests) sees them through `import Kernels`.
@_exported import LayerGeometry
