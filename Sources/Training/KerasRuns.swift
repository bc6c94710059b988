/// `resnet-run import` / `export`: Keras model files in and out of the experiment store.
///
/// An imported run has status `imported`, no epochs, and the file's weights as its `final`
/// snapshot — the same manifest (`Weights.parameterManifest`) a trained run's final weights
/// have, BN moving statistics included — so `evaluate`, `predict` and `export` use it unchanged.
/// Its hyperparameters record where the weights came from: `source` (the path as given),
/// `source_sha256`, `source_bytes`, `keras_format`, and `keras_version`, `keras_backend`,
/// `keras_model_name` when the file has them.
import Datasets
import Foundation
import KerasFiles
import Kernels
import Models
import RunStore

public enum KerasRuns {
    /// The Keras-file view of a generated model type.
    public static func spec<M: GeneratedModelType>(_: M.Type) throws -> KerasModelSpec {
        try KerasModelSpec(name: M.registryName, dtype: M.dtype, descriptionText: M.descriptionText,
                           tensors: M.tensors, parameterCount: M.parameterCount)
    }

    /// Every registered model, in registry order.
    public static func specs() throws -> [KerasModelSpec] {
        func one<M: GeneratedModelType>(_ type: M.Type) throws -> KerasModelSpec { try spec(type) }
        return try ModelRegistry.all.map { try one($0) }
    }

    public struct Imported: Sendable {
        public var run: Int64
        public var model: String
        public var file: KerasFile
        public var sha256: String
        public var bytes: Int
        public var parameters: Int
    }

    /// Imports `path` into the database at `db` as a new run. Nothing is written unless the
    /// whole file maps onto a model; the run row and its weights go in in one transaction.
    public static func importFile(_ path: String, db: String, label: String?, model: String?,
                                  busyTimeout: Double = 5, programVersion: String,
                                  commandLine: String = CommandLine.arguments.joined(separator: " ")) throws -> Imported {
        let (file, reader) = try KerasFile.open(path)
        defer { reader.close() }
        let spec = try KerasImport.choose(file, among: try specs(), only: model)
        guard let type = ModelRegistry.model(named: spec.name) else {
            throw TrainingError("model '\(spec.name)' is not in this build")
        }
        let parameters = try KerasImport.parameters(file, reader: reader, spec: spec)
        let hashed: (sha256: String, bytes: Int)
        do { hashed = try SIGNS.hashFile(path) } catch { throw TrainingError(oneLine(error)) }

        var hp: [String: String] = [
            "source": path, "source_sha256": hashed.sha256, "source_bytes": String(hashed.bytes),
            "keras_format": file.format.rawValue,
        ]
        if let v = file.kerasVersion { hp["keras_version"] = v }
        if let b = file.backend { hp["keras_backend"] = b }
        if let n = file.modelName { hp["keras_model_name"] = n }
        func manifest<M: GeneratedModelType>(_: M.Type) -> ([TensorEntry], String) {
            (Weights.parameterManifest(M.self), M.descriptionSHA256)
        }
        let (tensors, modelHash) = manifest(type)
        let config = RunConfig(label: label, model: spec.name, modelHash: modelHash, datasetPath: "(imported)",
                               hyperparameters: hp, epochsPlanned: 0, batchSize: 0, learningRate: 0,
                               programVersion: programVersion, commandLine: commandLine)
        var reason = "imported from \(path) (\(file.format.summary)"
        if let v = file.kerasVersion { reason += ", Keras \(v)" }
        reason += ")"
        let store = try TrainingJob.openStore(db, create: true, busyTimeout: busyTimeout)
        let id = try parameters.withUnsafeBytes {
            try store.createImportedRun(config, reason: reason, tensors: tensors, bytes: $0)
        }
        return Imported(run: id, model: spec.name, file: file, sha256: hashed.sha256, bytes: hashed.bytes,
                        parameters: spec.parameterCount)
    }

    public struct Exported: Sendable {
        public var run: Int64
        public var model: String
        public var kind: SnapshotKind
        public var epoch: Int
        public var format: KerasFile.Format
        public var bytes: Int
    }

    /// Writes run `id`'s weights (`kind`, default final → best → checkpoint) to `path` as a Keras
    /// 3 HDF5 model (`model_config` + weights) or, with `weightsOnly`, a `.weights.h5`. The file
    /// appears only when complete (written next to it, then renamed).
    public static func export(db: String, run id: Int64, kind: SnapshotKind?, to path: String,
                              weightsOnly: Bool) throws -> Exported {
        let (store, record, type) = try StoredRun.open(db: db, run: id)
        let kind = try kind ?? Weights.defaultKind(store: store, run: id)
        func exported<M: GeneratedModelType>(_: M.Type) throws -> Exported {
            try Weights.checkCompatible(M.self, run: record)
            let all = try store.snapshots(run: id)
            guard let info = all.first(where: { $0.kind == kind }) else {
                throw RunStoreError.missingSnapshot(run: id, kind: kind.rawValue, available: all.map(\.kind.rawValue))
            }
            let manifest = kind == .checkpoint ? Weights.checkpointManifest(M.self) : Weights.parameterManifest(M.self)
            guard info.tensors == manifest else {
                throw TrainingError("snapshot '\(kind.rawValue)' of run \(id) has a tensor manifest that does not match \(M.registryName)")
            }
            let spec = try self.spec(M.self)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: info.byteCount, alignment: 64)
            defer { buffer.deallocate() }
            try store.loadSnapshot(run: id, kind: kind, into: buffer)
            let parameters = UnsafeRawBufferPointer(rebasing: buffer[0..<spec.parameterByteCount])
            let name = record.hyperparameters["keras_model_name"] ?? KerasExport.defaultModelName(spec)
            let format: KerasFile.Format = weightsOnly ? .keras3WeightsH5 : .keras3H5
            try KerasExport.write(to: path, spec: spec, parameters: parameters, format: format, modelName: name)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            return Exported(run: id, model: M.registryName, kind: kind, epoch: info.epoch, format: format, bytes: size)
        }
        return try exported(type)
    }
}
