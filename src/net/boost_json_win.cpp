// The Windows build has no compiled Boost.JSON library (Debian ships none for
// mingw): its sources are compiled here, once, into lifeline_net.
#include <boost/json/src.hpp>
