// swift-tools-version:6.0
import PackageDescription

// Release builds of the numeric code drop overflow and exclusivity checks: the kernels index raw
// arena buffers whose bounds the generator has already proven from literal shapes. `-fno-math-errno`
// reaches the C shim behind `squareRoot()`: with errno semantics a square root is a libm call per
// element that LLVM cannot vectorize (ResNet-50's Adam step: 56 ms as per-element calls, 16 ms vectorized).
//
// They are compiled for the CPU that builds them (`-target-cpu native`), which makes a binary that
// may die with SIGILL on an older CPU. RESNET_TARGET_CPU picks another LLVM CPU for a portable
// build: `RESNET_TARGET_CPU=x86-64-v3 swift build -c release` (AVX2/FMA, Haswell and Zen and
// later) or `x86-64-v2` (SSE4.2, any x86-64 of the last 15 years). OpenBLAS chooses its own
// kernels at run time either way, so the GEMMs are unaffected; only our kernels change.
let targetCPU = Context.environment["RESNET_TARGET_CPU"].flatMap { $0.isEmpty ? nil : $0 } ?? "native"
// Swift 6.3's compiler (and its clang importer) know CPUs, not the x86-64 microarchitecture levels:
// `-target-cpu x86-64-v3` is "unknown target CPU". Each level maps to the oldest CPU that has all of
// its features (and nothing our kernels would use beyond them): v2 → Nehalem (SSE4.2, POPCNT),
// v3 → Haswell (AVX2, FMA, BMI2, F16C, MOVBE), v4 → Skylake-AVX512 (AVX-512 F/CD/BW/DQ/VL).
let llvmCPU = ["x86-64-v2": "nehalem", "x86-64-v3": "haswell", "x86-64-v4": "skylake-avx512"][targetCPU] ?? targetCPU
let numericSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked", "-target-cpu", llvmCPU, "-Xcc", "-fno-math-errno"],
                 .when(configuration: .release)),
    // So that `resnet-run bench` can say which build it measured (Kernels' `BuildInfo`).
    .define("RESNET_TARGET_CPU_" + String(targetCPU.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }),
            .when(configuration: .release)),
]

let package = Package(
    name: "resnet-swift",
    products: [
        .executable(name: "resnet-run", targets: ["resnet-run"]),
        .executable(name: "resnet-runs", targets: ["resnet-runs"]),
        .executable(name: "netgen", targets: ["netgen"]),
        .plugin(name: "ModelCodegen", targets: ["ModelCodegen"]),
        .plugin(name: "GenerateModel", targets: ["GenerateModel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libhdf5-dev).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5"),
        // Photos (Debian: libjpeg62-turbo-dev, libpng-dev), decoded by a small C target.
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg"),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng"),
        // Open MPI (Debian: libopenmpi-dev) for data-parallel training; always linked, initialized
        // only when the process was started by mpirun.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi"),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "CImageDecode", dependencies: ["CJPEG", "CPNG"]),
        .target(name: "AllocCounter"),
        .target(name: "Digest"),
        // Display width of text (East Asian wide characters, combining marks) and the terminal's width.
        .target(name: "TerminalText"),

        // Description → NetSpec → emitter → generated model → kernels.
        .target(name: "NetSpec", dependencies: ["Digest"]),
        .target(name: "LayerGeometry"),
        .target(name: "NetEmit", dependencies: ["NetSpec", "LayerGeometry"]),
        .executableTarget(name: "netgen", dependencies: ["NetEmit", "NetSpec"]),
        .target(name: "Kernels", dependencies: ["CBLAS", "LayerGeometry"], swiftSettings: numericSettings),
        .target(name: "Models", dependencies: ["Kernels"], swiftSettings: numericSettings,
                plugins: ["ModelCodegen"]),
        .plugin(name: "ModelCodegen", capability: .buildTool(), dependencies: ["netgen"]),
        .plugin(
            name: "GenerateModel",
            capability: .command(
                intent: .custom(verb: "generate-model",
                                description: "Regenerate Generated/ from the model descriptions in Sources/Models"),
                permissions: [.writeToPackageDirectory(reason: "Writes the generated model sources into Generated/")]),
            dependencies: ["netgen"]),

        // Data, experiment store, training loop and the command-line tools.
        .target(name: "Datasets", dependencies: ["CHDF5", "Digest", "CImageDecode"]),
        .target(name: "KerasFiles", dependencies: ["Datasets", "Kernels", "NetSpec"]),
        .target(name: "RunStore", dependencies: [.product(name: "GRDB", package: "GRDB.swift"), "Digest"]),
        .target(name: "Training", dependencies: ["Models", "Kernels", "Datasets", "RunStore", "NetSpec", "KerasFiles", "TerminalText", "Distributed", "CMPI"],
                swiftSettings: numericSettings),
        // The command-line convention both CLIs share: run selectors, errors and exit statuses, option types.
        .target(name: "CLISupport", dependencies: [
            "RunStore", "TerminalText", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "resnet-run", dependencies: [
            "Training", "Models", "NetSpec", "AllocCounter", "KerasFiles", "CLISupport", "TerminalText", "Distributed", "CMPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "resnet-runs", dependencies: [
            "RunStore", "CLISupport", "TerminalText", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "DigestTests", dependencies: ["Digest"]),
        .testTarget(name: "CLISupportTests", dependencies: ["CLISupport", "TerminalText"]),
        .testTarget(name: "NetSpecTests", dependencies: ["NetSpec", "NetEmit", "LayerGeometry", "netgen"],
                    exclude: ["Fixtures"]),  // read from the source tree by PackagePaths
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "ModelTests", dependencies: ["Models", "Kernels", "AllocCounter"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "CImageDecode"], resources: [.copy("Fixtures")]),
        .testTarget(name: "RunStoreTests", dependencies: ["RunStore", "resnet-runs", "TerminalText"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "Datasets", "RunStore", "resnet-run"]),
        .testTarget(name: "KerasFilesTests", dependencies: ["KerasFiles", "Training", "Models", "Datasets", "RunStore", "resnet-run"],
                    resources: [.copy("Fixtures")]),
    ],
    // Swift 5 mode: the numeric core passes raw arena pointers between a model and its kernels on
    // one thread; strict-concurrency checking adds annotations there without catching anything.
    swiftLanguageModes: [.v5]
)
