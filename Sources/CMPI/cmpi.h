// The MPI implementation's own header, found through pkg-config's `mpi` (Debian's alternative:
// Open MPI or MPICH, whichever is selected). Only the C shim includes it: MPI's handle types
// and constants differ between implementations, and Open MPI's macros do not import into Swift.
#include <mpi.h>
