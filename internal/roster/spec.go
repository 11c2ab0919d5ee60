package roster

import (
	"fmt"

	cybercoopv1alpha1 "github.com/cybercoop/cybercoop-operator/api/v1alpha1"
)

// ShiftsOf parses a FocalPoint's spec.roster into shifts; an error names the field
// (spec.roster.shifts[i].start, ...) that does not parse.
func ShiftsOf(r cybercoopv1alpha1.Roster) ([]Shift, error) {
	out := make([]Shift, 0, len(r.Shifts))
	for i, s := range r.Shifts {
		field := fmt.Sprintf("spec.roster.shifts[%d]", i)
		start, err := ParseTimeOfDay(field+".start", string(s.Start))
		if err != nil {
			return nil, err
		}
		end, err := ParseTimeOfDay(field+".end", string(s.End))
		if err != nil {
			return nil, err
		}
		shift := Shift{Start: start, End: end}
		for j, d := range s.Days {
			wd, err := ParseWeekday(fmt.Sprintf("%s.days[%d]", field, j), string(d))
			if err != nil {
				return nil, err
			}
			shift.Days = append(shift.Days, wd)
		}
		out = append(out, shift)
	}
	return out, nil
}
