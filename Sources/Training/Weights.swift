/// Stored weights: the snapshot manifests a model's parameters and checkpoints are written with,
/// and loading a run's weights back into a model (checking model, description hash and manifest).
///
/// - `final` / `best` snapshots hold `model.parameterBytes`: every tensor of `M.tensors`
///   (trainable weights, then BN moving mean/variance) at its element offset × scalar size.
/// - `checkpoint` snapshots hold `model.stateBytes`: the same tensors followed by Adam's m and v
///   (`adam/m`, `adam/v`, one flat tensor each); `extra` carries the step count, the shuffling RNG
///   state, the completed-epoch count and the best test accuracy so far.
import Datasets
import Foundation
import Kernels
import Models
import RunStore

public enum Weights {
    /// Manifest of `parameterBytes`: one entry per `M.tensors` element with byte offsets and dtype.
    public static func parameterManifest<M: GeneratedModelType>(_: M.Type) -> [TensorEntry] {
        let size = MemoryLayout<M.Scalar>.stride
        return M.tensors.map {
            TensorEntry(name: $0.name, shape: $0.shape, dtype: M.dtype, offset: $0.offset * size, byteCount: $0.count * size)
        }
    }

    /// Manifest of `stateBytes`: the parameters, then Adam's m and v.
    public static func checkpointManifest<M: GeneratedModelType>(_: M.Type) -> [TensorEntry] {
        let size = MemoryLayout<M.Scalar>.stride
        let p = M.parameterCount * size, t = M.trainableParameterCount * size
        return parameterManifest(M.self) + [
            TensorEntry(name: "adam/m", shape: [M.trainableParameterCount], dtype: M.dtype, offset: p, byteCount: t),
            TensorEntry(name: "adam/v", shape: [M.trainableParameterCount], dtype: M.dtype, offset: p + t, byteCount: t),
        ]
    }

    /// Fails unless `run` was trained with this very model description.
    public static func checkCompatible<M: GeneratedModelType>(_: M.Type, run: RunRecord) throws {
        guard run.model == M.registryName else {
            throw TrainingError("run \(run.id) trained model '\(run.model)', not '\(M.registryName)'")
        }
        guard run.modelHash == M.descriptionSHA256 else {
            throw TrainingError("run \(run.id) was trained with another description of \(run.model) (sha256 \(run.modelHash.prefix(12))…, this build has \(M.descriptionSHA256.prefix(12))…); its weights do not fit this build")
        }
    }

    /// Which snapshot `evaluate`/`predict` use by default: `final`, else `best`, else `checkpoint`.
    public static func defaultKind(store: RunStore, run: Int64) throws -> SnapshotKind {
        let kinds = Set(try store.snapshots(run: run).map(\.kind))
        for kind in [SnapshotKind.final, .best, .checkpoint] where kinds.contains(kind) { return kind }
        throw RunStoreError.missingSnapshot(run: run, kind: "final", available: [])
    }

    /// Loads the parameters (weights and BN statistics) of snapshot `kind` of `run` into `model`.
    /// Returns the snapshot's epoch.
    @discardableResult
    public static func loadParameters<M: GeneratedModelType>(into model: M, store: RunStore, run: RunRecord,
                                                             kind: SnapshotKind) throws -> Int {
        try checkCompatible(M.self, run: run)
        let all = try store.snapshots(run: run.id)
        guard let info = all.first(where: { $0.kind == kind }) else {
            throw RunStoreError.missingSnapshot(run: run.id, kind: kind.rawValue, available: all.map(\.kind.rawValue))
        }
        let expected = kind == .checkpoint ? checkpointManifest(M.self) : parameterManifest(M.self)
        guard info.tensors == expected else {
            throw TrainingError("snapshot '\(kind.rawValue)' of run \(run.id) has a tensor manifest that does not match \(M.registryName) (\(info.tensors.count) tensors, expected \(expected.count))")
        }
        if kind == .checkpoint {
            try store.loadSnapshot(run: run.id, kind: kind, into: model.stateBytes)
        } else {
            try store.loadSnapshot(run: run.id, kind: kind, into: model.parameterBytes)
        }
        return info.epoch
    }

    /// An inference model (batch norm folded) with the parameters of snapshot `kind` of `run`, and
    /// the snapshot's epoch. A final/best snapshot streams straight into the inference model's
    /// parameter block (no training arena); a checkpoint goes through a training model first.
    public static func loadInference<M: GeneratedModelType>(_: M.Type, store: RunStore, run: RunRecord,
                                                            kind: SnapshotKind, threads: Int) throws -> (M.Inference, epoch: Int) {
        if kind == .checkpoint {
            let model = M(seed: 0, threads: threads)
            let epoch = try loadParameters(into: model, store: store, run: run, kind: kind)
            let inference = M.Inference(threads: threads)
            inference.load(parameters: model.parameters)
            return (inference, epoch)
        }
        try checkCompatible(M.self, run: run)
        let all = try store.snapshots(run: run.id)
        guard let info = all.first(where: { $0.kind == kind }) else {
            throw RunStoreError.missingSnapshot(run: run.id, kind: kind.rawValue, available: all.map(\.kind.rawValue))
        }
        guard info.tensors == parameterManifest(M.self) else {
            throw TrainingError("snapshot '\(kind.rawValue)' of run \(run.id) has a tensor manifest that does not match \(M.registryName) (\(info.tensors.count) tensors, expected \(M.tensors.count))")
        }
        let inference = M.Inference(threads: threads)
        try inference.loadParameters { parameters in
            try store.loadSnapshot(run: run.id, kind: kind, into: UnsafeMutableRawBufferPointer(
                start: UnsafeMutableRawPointer(parameters), count: M.parameterCount * MemoryLayout<M.Scalar>.stride))
        }
        return (inference, info.epoch)
    }
}
