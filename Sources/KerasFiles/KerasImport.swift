/// Mapping a Keras file's weights onto a generated model, by layer name through the model's
/// description: every layer with weights must be in the file with the same tensors, shapes and
/// dtype, and the file may hold no layer with weights the description lacks. Any mismatch is one
/// line naming the file, the layer, the tensor and both shapes.
import Datasets
import Foundation
import NetSpec

public enum KerasImport {
    /// The first mismatch between `file` and `spec` (dtype aside), or nil when they fit.
    public static func mismatch(_ file: KerasFile, _ spec: KerasModelSpec) -> String? {
        let path = file.path
        let fileLayers = Dictionary(file.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let ours = spec.weightedLayers
        let ourNames = Set(ours.map(\.layer.name))
        let what = "model '\(spec.name)'"
        for (layer, weights) in ours {
            guard let theirs = fileLayers[layer.name], !theirs.weights.isEmpty else {
                let first = weights[0]
                return "\(path): layer '\(layer.name)' (\(layer.kind.kerasClass)) is missing from the file: tensor '\(first.name)' \(shapeText(first.shape)) expected by \(what), none in the file"
            }
            let pairs: [(WeightSpec, KerasFile.Weight?)]
            if file.format == .keras3WeightsH5 {
                pairs = weights.enumerated().map { i, w in (w, i < theirs.weights.count ? theirs.weights[i] : nil) }
            } else {
                pairs = weights.map { w in (w, theirs.weights.first { $0.role == w.role.rawValue }) }
            }
            for (w, t) in pairs {
                guard let t else {
                    return "\(path): layer '\(layer.name)' tensor '\(w.name)' is missing from the file: \(what) expects shape \(shapeText(w.shape)), none in the file"
                }
                if t.shape != w.shape {
                    return "\(path): layer '\(layer.name)' tensor '\(w.name)' has shape \(shapeText(t.shape)) in the file, \(what) expects \(shapeText(w.shape))"
                }
            }
            if theirs.weights.count > weights.count {
                let extra: KerasFile.Weight
                if file.format == .keras3WeightsH5 {
                    extra = theirs.weights[weights.count]
                } else {
                    extra = theirs.weights.first { t in !weights.contains { $0.role.rawValue == t.role } } ?? theirs.weights[weights.count]
                }
                return "\(path): layer '\(layer.name)' has an extra tensor '\(layer.name)/\(extra.role)' \(shapeText(extra.shape)) in the file that \(what) does not have (none expected)"
            }
        }
        for layer in file.weightedLayers where !ourNames.contains(layer.name) {
            let w = layer.weights[0]
            return "\(path): layer '\(layer.name)' with weights (tensor '\(layer.name)/\(w.role)' \(shapeText(w.shape))) is in the file but not in \(what) (no such layer with weights, none expected)"
        }
        return nil
    }

    /// How many of the file's weighted layers `spec` has with the same name and tensor shapes
    /// (to pick the closest model for an error message: the tiny model's layer names are a
    /// subset of ResNet-50's, so names alone do not tell them apart).
    static func overlap(_ file: KerasFile, _ spec: KerasModelSpec) -> Int {
        let ours = Dictionary(spec.weightedLayers.map { ($0.layer.name, $0.weights.map(\.shape)) }, uniquingKeysWith: { a, _ in a })
        return file.weightedLayers.filter { layer in
            guard let shapes = ours[layer.name] else { return false }
            return Set(layer.weights.map(\.shape)) == Set(shapes)
        }.count
    }

    /// Picks the model the file's weights fit: same layers, tensors and shapes, and the file's
    /// dtype (a float64 file goes to the float64 variant of a description that has one).
    /// `only` restricts the choice to models of that registry or description name.
    public static func choose(_ file: KerasFile, among specs: [KerasModelSpec], only: String? = nil) throws -> KerasModelSpec {
        guard let dtype = try file.weightDType() else {
            throw KerasError("\(file.path): the file holds no weights (\(file.layers.count) layers, none with weights)")
        }
        var candidates = specs
        if let only {
            candidates = specs.filter { $0.name == only || $0.modelName == only }
            guard !candidates.isEmpty else {
                throw KerasError("--model: unknown model '\(only)'; available: \(specs.map(\.name).joined(separator: ", "))")
            }
        }
        let fitting = candidates.filter { mismatch(file, $0) == nil }
        if let exact = fitting.first(where: { $0.dtype == dtype }) { return exact }
        if let other = fitting.first {
            throw KerasError("\(file.path): the file's weights are \(dtype) and model '\(other.modelName)' has no \(dtype) variant (its description generates \(fitting.map(\.dtype).joined(separator: ", "))); add \(dtype) to its description's dtype line")
        }
        // Nothing fits: report against the closest model (most layers in common, the file's dtype first).
        let closest = candidates.enumerated().max { a, b in
            let (oa, ob) = (overlap(file, a.element), overlap(file, b.element))
            if oa != ob { return oa < ob }
            let (da, db) = (a.element.dtype == dtype, b.element.dtype == dtype)
            if da != db { return !da }
            return a.offset > b.offset
        }!.element
        throw KerasError(mismatch(file, closest)!)
    }

    /// The model's parameter block (`spec.parameterByteCount` bytes, tensors at their offsets)
    /// filled from the file, bit for bit. `spec` must fit (`mismatch` nil) and share the dtype.
    public static func parameters(_ file: KerasFile, reader: HDF5Reader, spec: KerasModelSpec) throws -> [UInt8] {
        if let problem = mismatch(file, spec) { throw KerasError(problem) }
        let fileLayers = Dictionary(file.layers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var bytes = [UInt8](repeating: 0, count: spec.parameterByteCount)
        var filled = 0
        try bytes.withUnsafeMutableBytes { buffer in
            for (layer, weights) in spec.weightedLayers {
                let theirs = fileLayers[layer.name]!
                for (i, w) in weights.enumerated() {
                    let t = file.format == .keras3WeightsH5 ? theirs.weights[i] : theirs.weights.first { $0.role == w.role.rawValue }!
                    guard t.dtype == spec.dtype else {
                        throw KerasError("\(file.path): layer '\(layer.name)' tensor '\(w.name)' has dtype \(t.dtype), model '\(spec.name)' is \(spec.dtype)")
                    }
                    guard let info = spec.tensor(named: w.name), info.shape == w.shape else {
                        throw KerasError("model '\(spec.name)': its description's tensor '\(w.name)' is not in its generated manifest")
                    }
                    let start = info.offset * spec.scalarSize, count = info.count * spec.scalarSize
                    do {
                        try reader.read(t.dataset, dtype: t.dtype, into: UnsafeMutableRawBufferPointer(rebasing: buffer[start..<start + count]))
                    } catch let error as DatasetError {
                        throw KerasError(error.description)
                    }
                    filled += info.count
                }
            }
        }
        guard filled == spec.parameterCount else {
            throw KerasError("model '\(spec.name)': the description's weights cover \(filled) of its \(spec.parameterCount) parameters")
        }
        return bytes
    }
}
