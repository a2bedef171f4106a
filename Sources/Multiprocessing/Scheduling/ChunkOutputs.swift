/// A finished chunk's results as the calls keep them (``StreamJob``):
/// type-erased, so that the state the reader threads update for every chunk is not generic.
/// Unspecialised generic code pays a runtime metadata lookup for each generic type it
/// touches; a box costs one allocation.
protocol ChunkOutputs: AnyObject, Sendable {}
