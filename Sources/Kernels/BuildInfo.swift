/// Which code the numeric targets were compiled to, for benchmark reports: a `native` build is
/// only guaranteed to run on CPUs like the one that built it (Package.swift, RESNET_TARGET_CPU).
public enum BuildInfo {
    #if RESNET_TARGET_CPU_NATIVE
    public static let targetCPU = "native"
    #elseif RESNET_TARGET_CPU_X86_64_V2
    public static let targetCPU = "x86-64-v2"
    #elseif RESNET_TARGET_CPU_X86_64_V3
    public static let targetCPU = "x86-64-v3"
    #elseif RESNET_TARGET_CPU_X86_64_V4
    public static let targetCPU = "x86-64-v4"
    #elseif DEBUG
    public static let targetCPU = "debug build"
    #else
    public static let targetCPU = "other (RESNET_TARGET_CPU)"
    #endif
}
