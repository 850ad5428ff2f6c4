/* qatc PTQ: round-to-nearest with the policy's scale initialiser. */
#include "qat/policy.h"
#include "qat/ptq/ptq.h"

int qt_ptq_rtn(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, FILE *log, char *err, size_t errlen) {
    if (qt_policy_apply(m, qc, log, err, errlen)) return -1;
    return qt_calib_act_scales(m, c, 8, err, errlen);
}
