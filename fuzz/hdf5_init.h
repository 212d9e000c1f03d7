// HDF5 keeps freed blocks on its own free lists and reuses them, which hides out-of-bounds
// accesses from AddressSanitizer and makes them depend on earlier inputs. Fuzz targets that go
// through HDF5 turn the lists off so every block comes from malloc and findings reproduce.
#pragma once
#include <hdf5.h>

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5set_free_list_limits(0, 0, 0, 0, 0, 0);
  return 0;
}
